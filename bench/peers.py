"""The peers of tally's analytics benchmark: DuckDB and ClickHouse (chDB) compute the same
tables from the same raw events, exactly (count DISTINCT / uniqExact), in the same run.

Usage: python3 bench/peers.py DIR TIMEZONE START END
DIR holds messages.csv and executions.csv written by `cargo bench --bench analytics`. Prints
one JSON object: for each engine and table, the best time of 3 runs in ms and the rows.
Load time is not counted: both engines first load the CSV files into in-memory tables.
"""

import json
import sys
import time


def tables(fn_date, distinct, expand, tz, start, end):
    """The SQL of each table; fn_date(ts) is the local date of an instant in the engine, and
    expand(table) repeats each row of `table` for k = 0..27 with `target` = its day + k."""
    d = fn_date("ts")
    window = f"{d} BETWEEN DATE '{start}' AND DATE '{end}'"
    history = f"{d} BETWEEN DATE '{start}' - INTERVAL 27 DAY AND DATE '{end}'"
    return {
        "usage_metrics": f"""SELECT CAST({d} AS VARCHAR) AS day, count(*) AS messages,
                {distinct('conversation_id')} AS conversations, {distinct('user_id')} AS active_users
            FROM messages WHERE {window} GROUP BY day ORDER BY day""",
        "active_users": f"""WITH active AS (SELECT DISTINCT {d} AS day, user_id FROM messages
                WHERE {history} AND user_id IS NOT NULL)
            SELECT CAST(target AS VARCHAR) AS day,
                {distinct("CASE WHEN k = 0 THEN user_id END")} AS dau,
                {distinct("CASE WHEN k < 7 THEN user_id END")} AS wau,
                {distinct('user_id')} AS mau
            FROM ({expand('active')}) AS expanded
            WHERE target BETWEEN DATE '{start}' AND DATE '{end}'
            GROUP BY target ORDER BY target""",
        "source": f"""SELECT CAST({d} AS VARCHAR) AS day, source, count(*) AS n FROM messages
            WHERE {window} GROUP BY day, source ORDER BY day, source""",
        "tool_usage": f"""SELECT CAST({d} AS VARCHAR) AS day, name, count(*) AS executions,
                {distinct('user_id')} AS users
            FROM executions WHERE kind = 'tool' AND {window} GROUP BY day, name ORDER BY day, name""",
        "skill_usage": f"""SELECT CAST({d} AS VARCHAR) AS day, name, count(*) AS executions,
                {distinct('user_id')} AS users
            FROM executions WHERE kind = 'skill' AND {window} GROUP BY day, name ORDER BY day, name""",
        "agents": f"""SELECT agent_id, count(*) AS messages, {distinct('user_id')} AS users,
                {distinct('conversation_id')} AS conversations
            FROM messages WHERE {window} GROUP BY agent_id ORDER BY agent_id""",
        "users": f"""SELECT user_id, count(*) AS messages, max(ts_us) AS last_at,
                {distinct(d)} AS days, {distinct('agent_id')} AS agents
            FROM messages WHERE {window} AND user_id IS NOT NULL GROUP BY user_id ORDER BY user_id""",
    }


def timed(run, sql):
    best, rows = None, None
    for _ in range(3):
        started = time.perf_counter()
        rows = run(sql)
        elapsed = (time.perf_counter() - started) * 1000
        best = elapsed if best is None else min(best, elapsed)
    return best, [[str(v) if v is not None else None for v in row] for row in rows]


def duckdb_engine(folder, tz):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{tz}'")
    con.execute("SET threads = 2")
    con.execute(f"""CREATE TABLE messages AS SELECT *, make_timestamptz(ts_us) AS ts
        FROM read_csv('{folder}/messages.csv', header = true, nullstr = '\\N',
            types = {{'ts_us': 'BIGINT', 'user_id': 'VARCHAR'}})""")
    con.execute(f"""CREATE TABLE executions AS SELECT *, make_timestamptz(ts_us) AS ts
        FROM read_csv('{folder}/executions.csv', header = true, nullstr = '\\N',
            types = {{'ts_us': 'BIGINT', 'user_id': 'VARCHAR'}})""")
    date = lambda col: f"CAST(timezone('{tz}', {col}) AS DATE)"
    distinct = lambda col: f"count(DISTINCT {col})"
    expand = lambda t: f"SELECT day + CAST(k AS INTEGER) AS target, k, user_id FROM {t}, range(28) AS r(k)"
    return (lambda sql: con.execute(sql).fetchall()), date, distinct, expand


def chdb_engine(folder, tz):
    from chdb import session

    s = session.Session()
    s.query("CREATE DATABASE IF NOT EXISTS b")
    for name in ("messages", "executions"):
        s.query(f"""CREATE TABLE b.{name} ENGINE = Memory AS
            SELECT *, fromUnixTimestamp64Micro(ts_us, 'UTC') AS ts
            FROM file('{folder}/{name}.csv', 'CSVWithNames')
            SETTINGS input_format_csv_empty_as_default = 0, input_format_null_as_default = 0,
                schema_inference_make_columns_nullable = 1""")

    def run(sql):
        sql = sql.replace("FROM messages", "FROM b.messages").replace("FROM executions", "FROM b.executions")
        out = s.query(sql + " SETTINGS max_threads = 2, join_use_nulls = 1", "JSONCompact")
        return json.loads(out.bytes())["data"] if out.bytes() else []

    date = lambda col: f"toDate({col}, '{tz}')"
    distinct = lambda col: f"uniqExact({col})"
    expand = lambda t: f"SELECT addDays(day, k) AS target, k, user_id FROM {t} ARRAY JOIN range(28) AS k"
    return run, date, distinct, expand


def main():
    folder, tz, start, end = sys.argv[1:5]
    result = {}
    for name, make in (("duckdb", duckdb_engine), ("clickhouse", chdb_engine)):
        run, date, distinct, expand = make(folder, tz)
        result[name] = {}
        for table, sql in tables(date, distinct, expand, tz, start, end).items():
            try:
                ms, rows = timed(run, sql)
                result[name][table] = {"ms": ms, "rows": rows}
            except Exception as e:  # report, do not hide: the Rust side prints it
                result[name][table] = {"error": str(e)[:500]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
