"""Entry point: ``python app.py`` runs the bot with configuration from the environment (see README.md)."""

import sys

from bot.main import cli

if __name__ == "__main__":
    sys.exit(cli())
