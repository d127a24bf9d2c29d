"""An SFTP server with password login, for the relay's SFTP receiver (tests/relay_sftp.rs).

OpenSSH's sshd checks passwords against the system's accounts, which a test must not touch; PyPI's
asyncssh is an independent SSH implementation that takes a password check from its caller.

    python3 sftp_server.py <root> <port> <user> <password file> <host key>

Prints `ready` once it listens on 127.0.0.1:<port>; logs each login attempt on stderr.
"""

import asyncio
import sys

import asyncssh

ROOT, PORT, USER, PASSWORD_FILE, HOST_KEY = sys.argv[1:6]
with open(PASSWORD_FILE, encoding="utf-8") as f:
    PASSWORD = f.read().strip()


class Server(asyncssh.SSHServer):
    def begin_auth(self, username):
        return True

    def password_auth_supported(self):
        return True

    def public_key_auth_supported(self):
        return False

    def validate_password(self, username, password):
        ok = username == USER and password == PASSWORD
        print(f"login {username}: {'accepted' if ok else 'refused'}", file=sys.stderr, flush=True)
        return ok


class Files(asyncssh.SFTPServer):
    def __init__(self, chan):
        super().__init__(chan, chroot=ROOT.encode())


async def main():
    await asyncssh.create_server(
        Server, "127.0.0.1", int(PORT), server_host_keys=[HOST_KEY], sftp_factory=Files
    )
    print("ready", flush=True)
    await asyncio.Future()


asyncio.run(main())
