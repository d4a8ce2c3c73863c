"""Make event_log immutable in the database itself.

UPDATE is always rejected. DELETE and TRUNCATE are rejected unless the transaction has set
`dictamesh.event_log_retention = 'on'`, which only the retention job does
(apps.catalog.services.purge_event_log).
"""

from django.db import migrations

IMMUTABLE_SQL = """
CREATE OR REPLACE FUNCTION event_log_reject_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'UPDATE'
       AND coalesce(current_setting('dictamesh.event_log_retention', true), '') = 'on' THEN
        RETURN CASE WHEN TG_LEVEL = 'ROW' THEN OLD ELSE NULL END;
    END IF;
    RAISE EXCEPTION 'event_log is immutable: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Events are append-only; old rows are removed only by the retention job.';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER event_log_no_update_delete
    BEFORE UPDATE OR DELETE ON event_log
    FOR EACH ROW EXECUTE FUNCTION event_log_reject_change();

CREATE TRIGGER event_log_no_truncate
    BEFORE TRUNCATE ON event_log
    FOR EACH STATEMENT EXECUTE FUNCTION event_log_reject_change();
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS event_log_no_truncate ON event_log;
DROP TRIGGER IF EXISTS event_log_no_update_delete ON event_log;
DROP FUNCTION IF EXISTS event_log_reject_change();
"""


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_catalog_tables")]

    operations = [migrations.RunSQL(IMMUTABLE_SQL, REVERSE_SQL)]
