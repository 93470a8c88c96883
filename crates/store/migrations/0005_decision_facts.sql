-- What an accepted decision did, as the decision record says (issue 7):
-- whether it created its contact, and its warnings. Rows projected before
-- this migration: created when the decision holds a ContactCreated (what
-- the log decoder also assumes for records written before the headers).
ALTER TABLE command_outcomes
    ADD COLUMN created boolean NOT NULL DEFAULT false,
    ADD COLUMN warnings jsonb NOT NULL DEFAULT '[]';

UPDATE command_outcomes SET created = true WHERE events @> '[{"type": "ContactCreated"}]';
