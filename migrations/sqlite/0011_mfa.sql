-- Multi-factor authentication per user: the TOTP secret (sealed under the
-- master key; pending until a first code verifies it), the last time step a
-- TOTP code was accepted (a code is good once: the step only moves forward,
-- with one atomic UPDATE), email and SMS one-time codes as factors, and the
-- preferred factor.
CREATE TABLE user_mfa (
    pool_id           TEXT NOT NULL,
    sub               TEXT NOT NULL,
    totp_secret       BLOB,
    totp_verified     INTEGER NOT NULL DEFAULT 0,
    totp_device       TEXT,
    totp_last_step    INTEGER NOT NULL DEFAULT 0,
    email_otp_enabled INTEGER NOT NULL DEFAULT 0,
    sms_otp_enabled   INTEGER NOT NULL DEFAULT 0,
    preferred         TEXT,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (pool_id, sub),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);
