"""The language model the platform's agents call: a real OpenAI-compatible endpoint when the
settings name one, otherwise the scripted LLM server (``scripted_llm.py``), started here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from harness.errors import SettingsError
from harness.reporting.redaction import REDACTOR
from harness.services.scripted_llm import ScriptedLlmServer
from harness.settings import SuiteSettings

#: The scripted server's model names, small to large.
SCRIPTED_MODELS = ("apex-small", "apex-medium", "apex-large")
SIZES = ("small", "medium", "large")


@dataclass
class LanguageModel:
    base_url: str
    api_key: str = field(repr=False)
    #: the endpoint's model names for the small, medium and large sizes
    models: tuple[str, str, str]
    #: the scripted server, or None for a real endpoint
    scripted: ScriptedLlmServer | None = None

    @property
    def sizes(self) -> dict[str, str]:
        """Endpoint model name -> model size."""
        return dict(zip(self.models, SIZES, strict=True))

    def describe(self) -> str:
        return "the scripted LLM" if self.scripted is not None else "a real LLM endpoint"

    def release_held_calls(self) -> None:
        """Held model calls end, so that workers can stop promptly."""
        if self.scripted is not None:
            self.scripted.book.release_all()

    def close(self) -> None:
        if self.scripted is not None:
            self.scripted.close()
            self.scripted = None


def start_language_model(settings: SuiteSettings) -> LanguageModel:
    names = tuple(m.strip() for m in settings.llm_models.split(","))
    if len(names) != 3 or not all(names):
        raise SettingsError(
            f"llm_models needs three names (small, medium, large), not {settings.llm_models!r}"
        )
    models = (names[0], names[1], names[2])
    if settings.llm_base_url is not None:
        if settings.llm_api_key is None:
            raise SettingsError("llm_base_url is set but llm_api_key is not")
        REDACTOR.register(settings.llm_api_key.get_secret_value())
        return LanguageModel(settings.llm_base_url, settings.llm_api_key.get_secret_value(), models)
    api_key = "sk-scripted-" + secrets.token_urlsafe(24)
    REDACTOR.register(api_key)
    server = ScriptedLlmServer(api_key).start()
    return LanguageModel(server.base_url, api_key, SCRIPTED_MODELS, server)
