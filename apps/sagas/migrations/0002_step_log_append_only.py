"""Make the saga step log append-only in the database itself.

UPDATE and DELETE are always rejected; TRUNCATE only when the transaction has set
`dictamesh.saga_log_retention = 'on'` (test clean-up and a future retention job).
"""

from django.db import migrations

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION saga_step_log_reject_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND coalesce(current_setting('dictamesh.saga_log_retention', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'saga_step_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'A step attempt is recorded once, when it ends; it is never changed.';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER saga_step_log_no_update_delete
    BEFORE UPDATE OR DELETE ON saga_step_log
    FOR EACH ROW EXECUTE FUNCTION saga_step_log_reject_change();

CREATE TRIGGER saga_step_log_no_truncate
    BEFORE TRUNCATE ON saga_step_log
    FOR EACH STATEMENT EXECUTE FUNCTION saga_step_log_reject_change();
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS saga_step_log_no_truncate ON saga_step_log;
DROP TRIGGER IF EXISTS saga_step_log_no_update_delete ON saga_step_log;
DROP FUNCTION IF EXISTS saga_step_log_reject_change();
"""


class Migration(migrations.Migration):
    dependencies = [("sagas", "0001_saga_tables")]

    operations = [migrations.RunSQL(APPEND_ONLY_SQL, REVERSE_SQL)]
