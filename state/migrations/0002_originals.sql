-- Originals of uploaded files by content (state/postgres_originals.py): the bytes once per
-- sha256, and who uses them; the bytes go when the last user does.
CREATE TABLE originals (
    sha256 text PRIMARY KEY,
    filename text NOT NULL,
    content_type text NOT NULL,
    size_bytes bigint NOT NULL,
    data bytea NOT NULL
);

CREATE TABLE original_owners (
    sha256 text NOT NULL REFERENCES originals (sha256) ON DELETE CASCADE,
    owner text NOT NULL,
    PRIMARY KEY (sha256, owner)
);
