"""E-mail: mails composed from templates in the reader's language, sent by jobs over SMTP."""
