"""logscan: find every HTTP 400 in Ollama and application logs, give it a cause, count it."""

__version__ = "0.1.0"
