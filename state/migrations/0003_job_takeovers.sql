-- How many times a job was taken over from a node that died holding it: a file that kills
-- every node that reads it is failed after a few, not passed from node to node for ever.
ALTER TABLE jobs ADD COLUMN takeovers integer NOT NULL DEFAULT 0;
