"""Local stand-ins for services nightshift talks to (the Telegram Bot API)."""
