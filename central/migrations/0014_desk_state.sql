-- A desk out of use says why, in the admin's words (shown to whoever tries to book it):
-- set with `tapin central desk out-of-use DESK --reason TEXT`, cleared with `desk in-use`.
ALTER TABLE desks
    ADD COLUMN out_of_use_reason text NOT NULL DEFAULT ''
        CHECK (length(out_of_use_reason) <= 200);
