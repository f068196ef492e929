"""What Siyu handed to WeCom besides mass sends: moment tasks, channel QR codes (联系我) and their welcome messages."""
