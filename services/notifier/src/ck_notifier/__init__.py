"""The notifier: e-mail over SMTP from Dutch templates (R-MEMBER-5), and a local SMTP sink."""
