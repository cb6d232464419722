#!/usr/bin/python3
"""The Python anchor of `deno task bench`: python-ldap's SyncreplConsumer
(what the Python syncrepl consumers of this field are built on) doing a
refreshOnly sync of the workgroups with a simple bind and writing every
entry (entryUUID, DN, cn, member list as JSON) and the cookie into SQLite in
one transaction, as wgsync-ldap's first refresh does.

    /usr/bin/python3 syncrepl_sqlite.py URL BIND_DN PASSWORD_FILE BASE DB

Prints one JSON line: entries, members, peak RSS (KiB). python-ldap comes
from Debian (python3-ldap) for /usr/bin/python3; PyPI is not reachable here.
"""
import json
import resource
import sqlite3
import sys

import ldap
import ldap.syncrepl
from ldap.ldapobject import SimpleLDAPObject


class Consumer(ldap.syncrepl.SyncreplConsumer, SimpleLDAPObject):
    def __init__(self, db, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.db = db
        self.cookie = None
        self.entries = 0
        self.members = 0

    def syncrepl_get_cookie(self):
        return self.cookie

    def syncrepl_set_cookie(self, cookie):
        self.cookie = cookie

    def syncrepl_entry(self, dn, attributes, uuid):
        members = [m.decode() for m in attributes.get("member", [])]
        self.db.execute(
            "INSERT OR REPLACE INTO workgroups VALUES (?, ?, ?, ?, ?)",
            (
                uuid,
                dn,
                attributes["cn"][0].decode(),
                json.dumps(members),
                attributes.get("entryCSN", [b""])[0].decode(),
            ),
        )
        self.entries += 1
        self.members += len(members)

    def syncrepl_delete(self, uuids):
        self.db.executemany(
            "DELETE FROM workgroups WHERE entry_uuid = ?", [(u,) for u in uuids]
        )

    def syncrepl_present(self, uuids, refreshDeletes=False):
        pass

    def syncrepl_refreshdone(self):
        pass


def main():
    url, bind_dn, password_file, base, path = sys.argv[1:6]
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS workgroups (entry_uuid TEXT PRIMARY KEY,"
        " dn TEXT, name TEXT, members TEXT, csn TEXT)"
    )
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
    with open(password_file) as f:
        password = f.read().strip()
    consumer = Consumer(db, url)
    consumer.simple_bind_s(bind_dn, password)
    msgid = consumer.syncrepl_search(
        base,
        ldap.SCOPE_ONELEVEL,
        mode="refreshOnly",
        filterstr="(objectClass=groupOfNames)",
        attrlist=["cn", "member", "entryCSN"],
    )
    while consumer.syncrepl_poll(all=1, msgid=msgid):
        pass
    db.execute(
        "INSERT OR REPLACE INTO meta VALUES ('cookie', ?)", (consumer.cookie,)
    )
    db.commit()
    db.close()
    print(
        json.dumps(
            {
                "entries": consumer.entries,
                "members": consumer.members,
                "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )


main()
