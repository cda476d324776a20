-- The shared state of several kbqa nodes: conversations, jobs with their uploads, API keys
-- made at run time, feedback on answers. Applied once (state/postgres.py).
CREATE TABLE conversations (
    id text PRIMARY KEY,
    title text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX conversations_by_activity ON conversations (updated_at DESC);

CREATE TABLE messages (
    id bigserial PRIMARY KEY,
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role text NOT NULL,
    content text NOT NULL,
    answer jsonb,
    created_at timestamptz NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);

-- A job is the JSON of core.types.Job plus what the queue needs: its state, the node that
-- holds it (owner) and until when (lease_until).
CREATE TABLE jobs (
    id text PRIMARY KEY,
    state text NOT NULL,
    created_at timestamptz NOT NULL,
    finished_at timestamptz,
    owner text,
    lease_until timestamptz,
    job jsonb NOT NULL
);
CREATE INDEX jobs_by_creation ON jobs (created_at DESC);
CREATE INDEX jobs_unfinished ON jobs (created_at) WHERE finished_at IS NULL;

-- The uploaded file of a job that has not finished yet: any node can run any job.
CREATE TABLE job_uploads (
    job_id text PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    data bytea NOT NULL
);

CREATE TABLE api_keys (
    id text PRIMARY KEY,
    hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    record jsonb NOT NULL
);

CREATE TABLE feedback (
    id text PRIMARY KEY,
    rating text NOT NULL,
    created_at timestamptz NOT NULL,
    record jsonb NOT NULL
);
CREATE INDEX feedback_by_time ON feedback (created_at DESC);
