"""Run SQL queries on a SQLite file with ADBC and write each result as an Arrow IPC file.

Run as a script in a child process (see `arrow.batch_tables`), never imported by the store:
ADBC's SQLite driver carries its own copy of SQLite, and two copies of SQLite in one process
defeat SQLite's POSIX locks. Closing the driver's connection drops the locks the process's
other connections hold, and the copy that closes may take itself for the last user of the
database and delete the write-ahead log under them ("database disk image is malformed").
A child process is just another SQLite client, with locking that works.

Input on stdin: {"path": FILE, "out": FOLDER, "queries": {NAME: SQL}}; writes FOLDER/NAME.arrow.
"""

import json
import sys
from pathlib import Path
from urllib.parse import quote


def main() -> None:
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    job = json.load(sys.stdin)
    # Read-only: this connection can never checkpoint or remove the write-ahead log.
    uri = "file:" + quote(str(Path(job["path"]).resolve())) + "?mode=ro"
    conn = adbc.connect(uri)
    try:
        with conn.cursor() as cur:
            cur.execute("PRAGMA busy_timeout=30000")
            for name, sql in job["queries"].items():
                cur.execute(sql)
                table = cur.fetch_arrow_table()
                with pa.OSFile(str(Path(job["out"]) / f"{name}.arrow"), "wb") as sink:
                    with pa.ipc.new_file(sink, table.schema) as writer:
                        writer.write_table(table)
    finally:
        conn.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the parent reports this line
        print(f"{type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        sys.exit(1)
