-- Multi-factor authentication per user: the TOTP secret (sealed under the
-- master key; pending until a first code verifies it), the last time step a
-- TOTP code was accepted (a code is good once: the step only moves forward,
-- with one atomic UPDATE), email and SMS one-time codes as factors, and the
-- preferred factor.
CREATE TABLE user_mfa (
    pool_id           TEXT NOT NULL,
    sub               TEXT NOT NULL,
    totp_secret       BYTEA,
    totp_verified     BOOLEAN NOT NULL DEFAULT FALSE,
    totp_device       TEXT,
    totp_last_step    BIGINT NOT NULL DEFAULT 0,
    email_otp_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    sms_otp_enabled   BOOLEAN NOT NULL DEFAULT FALSE,
    preferred         TEXT,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (pool_id, sub),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);
