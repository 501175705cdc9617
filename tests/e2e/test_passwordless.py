"""Text messages and choice-based sign-in end to end: poolgate sends SMS
through its webhook sender to a gateway this test runs (each request's
HMAC-SHA256 signature checked with the shared secret), a phone number is
verified with boto3's GetUserAttributeVerificationCode/VerifyUserAttribute,
and ``USER_AUTH`` signs in without a password: the SELECT_CHALLENGE choice
with a code by email (SMTP sink), then a code by SMS as the preferred
challenge, and SMS as a second factor after a password."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import secrets
import threading

import pytest

from e2e_support import PASSWORD, email_for, expect, extract_code, unique_username, wait_until
from test_cognito import idp_client

SECRET = secrets.token_urlsafe(24)


class SmsGateway:
    """A local SMS gateway: keeps the messages whose signature checks out."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.refused = 0
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                ts = self.headers.get("x-poolgate-timestamp", "")
                mac = hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(self.headers.get("x-poolgate-signature", ""), f"v1={mac}"):
                    gateway.refused += 1
                    self.send_response(401)
                else:
                    gateway.messages.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/sms"

    def code_for(self, to: str, n: int) -> str:
        """The code in the n-th message to `to` (waits for it)."""
        got = wait_until(lambda: [m for m in self.messages if m["to"] == to][n - 1:] or None, timeout=20)
        assert got, f"no SMS number {n} to {to}: {self.messages}"
        return next(w for w in "".join(c if c.isdigit() else " " for c in got[0]["body"]).split() if len(w) == 6)


@pytest.fixture
def gateway():
    g = SmsGateway()
    yield g
    g.httpd.shutdown()


def test_phone_verification_and_user_auth_with_codes(server, smtp_sink, gateway):
    node = server(extra_env={"POOLGATE_SMS__KIND": "webhook", "POOLGATE_SMS__WEBHOOK__URL": gateway.url,
                             "POOLGATE_SMS__WEBHOOK__SECRET": SECRET})
    pool_id = expect(node.post("/v1/admin/pools", {
        "name": "passwordless", "username_attributes": ["email"],
        "first_auth_factors": ["PASSWORD", "EMAIL_OTP", "SMS_OTP"],
        "mfa": {"mode": "OPTIONAL", "factors": ["SOFTWARE_TOKEN", "SMS_OTP"]}}, admin=True), 201)["id"]
    client_id = expect(node.post(f"/v1/admin/pools/{pool_id}/clients", {
        "name": "app", "explicit_auth_flows": ["ALLOW_USER_AUTH", "ALLOW_USER_PASSWORD_AUTH",
                                               "ALLOW_REFRESH_TOKEN_AUTH"]}, admin=True), 201)["client_id"]
    idp = idp_client(node)
    email = email_for(unique_username("pwl"))
    phone = "+1555" + str(secrets.randbelow(10**7)).zfill(7)
    idp.sign_up(ClientId=client_id, Username=email, Password=PASSWORD,
                UserAttributes=[{"Name": "email", "Value": email}])
    idp.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode=extract_code(smtp_sink.wait_for(email)))
    first = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})
    access = first["AuthenticationResult"]["AccessToken"]

    # Phone verification by SMS through the signed webhook.
    idp.update_user_attributes(AccessToken=access, UserAttributes=[{"Name": "phone_number", "Value": phone}])
    d = idp.get_user_attribute_verification_code(AccessToken=access, AttributeName="phone_number")
    assert d["CodeDeliveryDetails"]["DeliveryMedium"] == "SMS", d
    idp.verify_user_attribute(AccessToken=access, AttributeName="phone_number", Code=gateway.code_for(phone, 1))
    attrs = {a["Name"]: a["Value"] for a in idp.get_user(AccessToken=access)["UserAttributes"]}
    assert attrs["phone_number_verified"] == "true", attrs
    assert gateway.refused == 0

    # USER_AUTH: the choice, then a code by email.
    mails = len(smtp_sink.messages_to(email))
    r = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH", AuthParameters={"USERNAME": email})
    assert r["ChallengeName"] == "SELECT_CHALLENGE", r
    assert set(r["AvailableChallenges"]) == {"PASSWORD", "PASSWORD_SRP", "EMAIL_OTP", "SMS_OTP"}, r
    r = idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="SELECT_CHALLENGE", Session=r["Session"],
                                      ChallengeResponses={"USERNAME": email, "ANSWER": "EMAIL_OTP"})
    assert r["ChallengeName"] == "EMAIL_OTP", r
    code = extract_code(smtp_sink.wait_for(email, n=mails + 1))
    done = idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="EMAIL_OTP", Session=r["Session"],
                                         ChallengeResponses={"USERNAME": email, "EMAIL_OTP_CODE": code})
    assert done["AuthenticationResult"]["IdToken"], done

    # SMS code as the preferred challenge: no password, no choice step.
    r = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_AUTH",
                          AuthParameters={"USERNAME": email, "PREFERRED_CHALLENGE": "SMS_OTP"})
    assert r["ChallengeName"] == "SMS_OTP", r
    done = idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="SMS_OTP", Session=r["Session"],
                                         ChallengeResponses={"USERNAME": email,
                                                             "SMS_OTP_CODE": gateway.code_for(phone, 2)})
    assert done["AuthenticationResult"]["AccessToken"], done

    # SMS as the second factor of a password sign-in.
    fresh = done["AuthenticationResult"]["AccessToken"]
    idp.set_user_mfa_preference(AccessToken=fresh, SMSMfaSettings={"Enabled": True, "PreferredMfa": True})
    r = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})
    assert r["ChallengeName"] == "SMS_MFA", r
    with pytest.raises(idp.exceptions.CodeMismatchException):
        idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="SMS_MFA", Session=r["Session"],
                                      ChallengeResponses={"USERNAME": email, "SMS_MFA_CODE": "000000"})
    code = gateway.code_for(phone, 3)
    done = idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="SMS_MFA", Session=r["Session"],
                                         ChallengeResponses={"USERNAME": email, "SMS_MFA_CODE": code})
    assert done["AuthenticationResult"]["AccessToken"], done
    assert idp.get_user(AccessToken=fresh)["PreferredMfaSetting"] == "SMS_MFA"
