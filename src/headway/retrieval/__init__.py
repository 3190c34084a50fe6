"""Collections and queries over them: chunking, embedders, the versioned index, hybrid ranking and retrieval-augmented chat. See ``README.md``."""
