"""A throwaway SMTP server on 127.0.0.1 that keeps the mails it receives (or refuses them), for the mail tests."""

from email import message_from_bytes
from email.policy import default as default_policy

import queue
import socketserver
import threading


class _Session(socketserver.StreamRequestHandler):
    """One SMTP session: enough of RFC 5321 for zope.sendmail's smtplib client."""

    def reply(self, line):
        self.wfile.write(f"{line}\r\n".encode("ascii"))

    def handle(self):
        self.server.sessions += 1
        self.reply("220 localhost netsight.async test SMTP")
        sender, recipients = None, []
        while line := self.rfile.readline():
            command = line.decode("ascii", "replace").strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                self.reply("250-localhost")
                self.reply("250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 localhost")
            elif verb == "MAIL":
                sender, recipients = command.partition(":")[2].strip(), []
                self.reply("250 OK")
            elif verb == "RCPT" and self.server.refuse:
                self.reply("550 No such user here")
            elif verb == "RCPT":
                recipients.append(command.partition(":")[2].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)
                message = message_from_bytes(b"".join(lines), policy=default_policy)
                self.server.received.put((sender, recipients, message))
                self.reply("250 OK")
            elif verb == "RSET":
                sender, recipients = None, []
                self.reply("250 OK")
            elif verb == "NOOP":
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class SMTPServer(socketserver.ThreadingTCPServer):
    """Listens on a free port of 127.0.0.1; ``received`` holds (sender, recipients, message).

    With ``refuse``, it refuses every recipient (550); ``sessions`` counts the connections it answered.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, refuse=False):
        super().__init__(("127.0.0.1", 0), _Session)
        self.refuse, self.sessions = refuse, 0
        self.received = queue.Queue()
        self.port = self.server_address[1]
        # It looks for a shutdown every 10 ms (the default, 0.5 s, is half a second per test).
        self.thread = threading.Thread(target=self.serve_forever, args=(0.01,), name="test-smtp", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
        self.thread.join()
