"""The sync's own records: where each sync stopped and which WeCom object each Siyu row stands for."""
