#!/usr/bin/env python3
"""Baseline for `npm run bench:ingest`: the same archive parsed with Python's `email`
package, the stack b4 and Patchwork use.

Reads a public-inbox v2 epoch through one `git cat-file --batch` (commits in
`git rev-list --reverse` order, blob `m` of each; deletions skipped), parses every message
with `email.message_from_bytes(raw, policy=email.policy.default)`, decodes every text part
(`get_content`) and the headers a series needs. Prints one JSON object.
"""

import email
import email.policy
import json
import resource
import subprocess
import sys
import threading
import time

HEADERS = ("Subject", "From", "Message-ID", "In-Reply-To", "References", "Date")


def commits(git_dir, rev):
    out = subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-list", "--reverse", rev],
        check=True,
        capture_output=True,
    ).stdout
    return out.decode().split()


def blobs(git_dir, ids):
    """Yield (commit, bytes or None) for every commit, through one cat-file process."""
    proc = subprocess.Popen(
        ["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )

    def feed():
        for commit in ids:
            proc.stdin.write(f"{commit}:m\n".encode())
        proc.stdin.close()

    writer = threading.Thread(target=feed)
    writer.start()
    out = proc.stdout
    for commit in ids:
        header = out.readline().split()
        if len(header) == 2 and header[1] == b"missing":
            yield commit, None
            continue
        size = int(header[2])
        data = out.read(size)
        out.read(1)
        yield commit, data
    writer.join()
    proc.wait()


def parse(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    fields = {name: str(msg.get(name, "")) for name in HEADERS}
    text = 0
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            try:
                text += len(part.get_content())
            except (LookupError, ValueError, AssertionError):
                # Unknown charset or broken encoding: count the part, keep going.
                pass
    return fields, text


def main():
    git_dir = sys.argv[1]
    rev = sys.argv[2] if len(sys.argv) > 2 else "HEAD"
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    started = time.perf_counter()
    ids = commits(git_dir, rev)
    if limit:
        ids = ids[:limit]
    messages = errors = deleted = text_chars = 0
    for _commit, raw in blobs(git_dir, ids):
        if raw is None:
            deleted += 1
            continue
        try:
            _fields, text = parse(raw)
            text_chars += text
            messages += 1
        except Exception:  # noqa: BLE001 - a message the stdlib cannot parse is counted
            errors += 1
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    json.dump(
        {
            "messages": messages,
            "errors": errors,
            "deleted": deleted,
            "textChars": text_chars,
            "seconds": seconds,
            "cpuSeconds": own.ru_utime + own.ru_stime,
            "maxRssKb": own.ru_maxrss,
            "childrenMaxRssKb": children.ru_maxrss,
            "python": sys.version.split()[0],
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
