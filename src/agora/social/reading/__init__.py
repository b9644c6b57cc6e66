"""Reading: timelines, lists, fan-out into home feeds, notifications."""
