from django.db import migrations

# A stored change whose row is not in the state the service read under its
# locks means a writer without them: fail the transaction, loudly, rather than
# record what did not happen (coupons.lifecycle).
EXPECT_ONE = """
CREATE FUNCTION coupons_expect_one_changed(changed bigint, what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF changed <> 1 THEN
        RAISE EXCEPTION 'lifecycle: % changed % rows, not 1', what, changed USING ERRCODE = 'data_exception';
    END IF;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("coupons", "0004_drop_indexes_covered_by_composites")]

    operations = [
        migrations.RunSQL(EXPECT_ONE, "DROP FUNCTION coupons_expect_one_changed(bigint, text);"),
    ]
