"""qoder-slack: a Slack bridge to Qoder Cloud Agents. One Slack thread is one Qoder session."""
