"""MM-Vet grader: an LLM judge (or an offline rule) scores free-form answers 0..1."""
