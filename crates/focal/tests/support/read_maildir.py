"""Prints every message in a Maildir written by aiosmtpd's Mailbox handler as one JSON array.

Used by Focal's notification tests to see exactly what the real SMTP server received: the
envelope (X-MailFrom / X-RcptTo, added by aiosmtpd), the headers, the text body and each
attachment decoded. Python's email package does the MIME parsing, so the tests do not rely on
Focal's own understanding of the messages it sent.
"""
import json
import mailbox
import sys
from email import policy
from email.parser import BytesParser


def main(path):
    out = []
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.keys()):
        with box.get_file(key) as fh:
            msg = BytesParser(policy=policy.default).parse(fh)
        body = msg.get_body(preferencelist=("plain",))
        attachments = {}
        for part in msg.iter_attachments():
            attachments[part.get_filename()] = part.get_content() if part.get_content_maintype() == "text" else part.get_payload(decode=True).decode("utf-8")
        out.append({
            "key": key,
            "mail_from": msg.get("X-MailFrom"),
            "rcpt_to": msg.get("X-RcptTo"),
            "from": str(msg.get("From")),
            "to": str(msg.get("To")),
            "cc": str(msg.get("Cc")) if msg.get("Cc") is not None else None,
            "subject": str(msg.get("Subject")),
            "message_id": msg.get("Message-ID"),
            "body": body.get_content() if body is not None else None,
            "attachments": attachments,
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
