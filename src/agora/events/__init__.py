"""Live events: the bus that carries what just happened (a new post, an edit, a deletion, a
notification) from the job that did it to every process that streams it to clients."""
