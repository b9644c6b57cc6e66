"""The server itself, as its admins run it: settings changed at run time, the job queue's dead
letters, and the activity the dashboard charts."""
