#!/bin/bash
# Counts the PostgreSQL statements of one native sign-in and of one Cognito
# InitiateAuth USER_PASSWORD_AUTH with SECRET_HASH, both warm, from the
# server log (log_statement=all on a fresh database). Usage:
# bench/statements.sh target/debug/poolgate
set -e
BIN=${1:?binary}
DB=poolgate_statements_$$
PG=postgres://postgres@127.0.0.1:5432
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB"
psql -h 127.0.0.1 -U postgres -qc "ALTER DATABASE $DB SET log_statement='all'"
W=$(mktemp -d); KEY=adminkey$(openssl rand -hex 16); PORT=18$((RANDOM%900+100))
cd $W
env POOLGATE_SERVER__BIND=127.0.0.1:$PORT POOLGATE_SERVER__PUBLIC_URL=http://127.0.0.1:$PORT \
  POOLGATE_DATABASE__URL=$PG/$DB POOLGATE_MAILER__KIND=dev POOLGATE_SECURITY__ADMIN_KEYS=$KEY \
  POOLGATE_SECURITY__MASTER_KEY=$(openssl rand -hex 32) POOLGATE_STORAGE__BIND=127.0.0.1:$((PORT+1)) \
  POOLGATE_STORAGE__ROOT=$W/s3 $BIN serve > $W/out.log 2>&1 &
SRV=$!
trap "kill $SRV; sleep 1; psql -h 127.0.0.1 -U postgres -qc \"DROP DATABASE $DB\"" EXIT
for i in $(seq 60); do curl -sf http://127.0.0.1:$PORT/health/ready >/dev/null && break; sleep 1; done
A=(-s -H "Authorization: Bearer $KEY" -H 'content-type: application/json')
POOL=$(curl "${A[@]}" -X POST http://127.0.0.1:$PORT/v1/admin/pools -d '{"name":"m","username_attributes":["email"]}' | jq -r .id)
C=$(curl "${A[@]}" -X POST http://127.0.0.1:$PORT/v1/admin/pools/$POOL/clients -d '{"name":"b","generate_secret":true}')
CID=$(jq -r .client_id <<<"$C"); SEC=$(jq -r .client_secret <<<"$C")
U=ann@example.com; PW='Correct-Horse-9'
curl "${A[@]}" -X POST http://127.0.0.1:$PORT/v1/admin/pools/$POOL/users -d "{\"username\":\"$U\",\"attributes\":{\"email\":\"$U\"},\"temporary_password\":\"$PW\"}" >/dev/null
curl "${A[@]}" -X POST http://127.0.0.1:$PORT/v1/admin/pools/$POOL/users/$U/password -d "{\"password\":\"$PW\",\"permanent\":true}" >/dev/null
HASH=$(printf '%s' "$U$CID" | openssl dgst -sha256 -hmac "$SEC" -binary | base64)
native() { curl -s -X POST -H 'content-type: application/json' http://127.0.0.1:$PORT/v1/pools/$POOL/signin \
  -d "{\"client_id\":\"$CID\",\"client_secret\":\"$SEC\",\"username\":\"$U\",\"password\":\"$PW\"}"; }
cognito() { curl -s -X POST -H 'content-type: application/x-amz-json-1.1' -H 'x-amz-target: AWSCognitoIdentityProviderService.InitiateAuth' http://127.0.0.1:$PORT/ \
  -d "{\"AuthFlow\":\"USER_PASSWORD_AUTH\",\"ClientId\":\"$CID\",\"AuthParameters\":{\"USERNAME\":\"$U\",\"PASSWORD\":\"$PW\",\"SECRET_HASH\":\"$HASH\"}}"; }
native >/dev/null; cognito >/dev/null

LOG=${PG_LOG:-/var/log/postgresql/postgresql-15-main.log}
mark() { psql -h 127.0.0.1 -U postgres -d $DB -qAtc "SELECT 'MARK-$1'" >/dev/null; sleep 0.2; }
native | jq -c "has(\"tokens\")"; cognito | jq -c "has(\"AuthenticationResult\")"; mark a; native >/dev/null; mark b; cognito >/dev/null; mark c; sleep 1
awk -v db="postgres@$DB" '$0 ~ db && /MARK-/ { if (/MARK-a/) s=1; else if (/MARK-b/) s=2; else if (/MARK-c/) s=3; next }
  $0 ~ db && /LOG:  (statement|execute)/ && s==1 { n++ } $0 ~ db && /LOG:  (statement|execute)/ && s==2 { c++ }
  END { print "native sign-in statements:", n+0; print "cognito InitiateAuth+SECRET_HASH statements:", c+0 }' $LOG
grep "postgres@$DB" $LOG | sed -n '/MARK-a/,/MARK-c/p' | grep -E "LOG:  (statement|execute)" | sed 's/.*LOG:  //' | cut -c1-110
