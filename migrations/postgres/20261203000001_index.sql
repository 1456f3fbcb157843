-- Index of the archive (PostgreSQL dialect). Keep in step with ../sqlite.
-- Times are Unix milliseconds; sizes are bytes; paths are relative to the
-- data directory and never built from UIDs.

CREATE TABLE patients (
    id              BIGSERIAL PRIMARY KEY,
    patient_key     TEXT NOT NULL UNIQUE,   -- PatientID + '\' + IssuerOfPatientID
    patient_id      TEXT NOT NULL,
    patient_name    TEXT NOT NULL,
    birth_date      TEXT NOT NULL,
    sex             TEXT NOT NULL
);

CREATE TABLE studies (
    id                  BIGSERIAL PRIMARY KEY,
    patient             BIGINT NOT NULL REFERENCES patients(id),
    study_instance_uid  TEXT NOT NULL UNIQUE,
    study_date          TEXT NOT NULL,
    study_time          TEXT NOT NULL,
    accession_number    TEXT NOT NULL,
    study_id            TEXT NOT NULL,
    study_description   TEXT NOT NULL,
    referring_physician TEXT NOT NULL,
    character_set       TEXT NOT NULL
);

CREATE TABLE series (
    id                  BIGSERIAL PRIMARY KEY,
    study               BIGINT NOT NULL REFERENCES studies(id),
    series_instance_uid TEXT NOT NULL UNIQUE,
    modality            TEXT NOT NULL,
    series_number       TEXT NOT NULL,
    series_description  TEXT NOT NULL,
    series_date         TEXT NOT NULL,
    series_time         TEXT NOT NULL,
    body_part           TEXT NOT NULL,
    last_received_ms    BIGINT NOT NULL
);

CREATE TABLE instances (
    id                  BIGSERIAL PRIMARY KEY,
    series              BIGINT NOT NULL REFERENCES series(id),
    sop_instance_uid    TEXT NOT NULL,
    version             BIGINT NOT NULL,       -- 1, or more under keep-both
    is_current          BIGINT NOT NULL,       -- 1 for the version served
    sop_class_uid       TEXT NOT NULL,
    transfer_syntax_uid TEXT NOT NULL,
    instance_number     TEXT NOT NULL,
    rows                BIGINT NOT NULL,
    columns             BIGINT NOT NULL,
    samples_per_pixel   BIGINT NOT NULL,
    bits_allocated      BIGINT NOT NULL,
    bits_stored         BIGINT NOT NULL,
    pixel_representation BIGINT NOT NULL,
    number_of_frames    BIGINT NOT NULL,
    image_position      TEXT NOT NULL,          -- as received, backslash-separated
    image_orientation   TEXT NOT NULL,
    source              TEXT NOT NULL,          -- 'network' or 'file'
    calling_ae          TEXT NOT NULL,
    received_ms         BIGINT NOT NULL,
    sha256              TEXT NOT NULL,          -- of the bytes as received
    size_received       BIGINT NOT NULL,
    data_set_offset     BIGINT NOT NULL,        -- 0 for network data sets
    spool_path          TEXT,                   -- while the received copy is kept
    size_stored         BIGINT NOT NULL,        -- bytes on disk for this instance
    UNIQUE (sop_instance_uid, version)
);
CREATE INDEX instances_series ON instances(series);
CREATE INDEX instances_sop ON instances(sop_instance_uid);

CREATE TABLE jobs (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    series      BIGINT REFERENCES series(id),
    state       TEXT NOT NULL,      -- pending, running, done, failed
    error       TEXT,
    attempts    BIGINT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
CREATE INDEX jobs_state ON jobs(state);
