"""The platform's one way to call a language model: any OpenAI-compatible endpoint, through the
official ``openai`` client."""
