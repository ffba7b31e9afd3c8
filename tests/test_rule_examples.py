"""Every built-in rule's examples, run through the same pipeline a scan uses, and every 400
message of the catalogue (shared/reference/ollama-400-catalogue.md, sections 2 and 5) among them."""

import pytest

from logscan import rules, scan

BUILTIN = rules.load()
EXAMPLES = [
    pytest.param(rule, example, id=f"{rule.id}[{index}]")
    for rule in BUILTIN.rules
    for index, example in enumerate(rule.examples)
]


@pytest.mark.parametrize(("rule", "example"), EXAMPLES)
def test_example_gets_its_declared_category(rule: rules.Rule, example: rules.Example) -> None:
    events = scan.scan_text(example.text, BUILTIN)
    if example.category == rules.NO_OCCURRENCE:
        assert events.height == 0, f"{example.where}: expected no 400, got {events.rows(named=True)}"
        return
    assert events.height == 1, f"{example.where}: expected one 400, got {events.height}"
    assert events.item(0, "category") == example.category, (
        f"{example.where}: got {events.item(0, 'category')} from rule {events.item(0, 'rule_id')}"
    )


def test_every_rule_has_a_positive_example() -> None:
    without = [r.id for r in BUILTIN.rules if not any(e.category == r.category for e in r.examples)]
    assert without == []


# Each 400 message the catalogue lists (sections 2 and 5), as a built-in example quotes it, with
# the category that the catalogue's taxonomy (sections 3 and 5) gives it. Messages the catalogue
# lists as another status (the 500s of `invalid format`, wrongly typed options) are decoys of
# their rules instead.
CATALOGUE_MESSAGES = [
    # 2.1 body decoding
    ("missing request body", "request_format"),
    ("unexpected EOF", "request_format"),
    ("invalid character 'm' looking for beginning of value", "request_format"),
    (
        "json: cannot unmarshal array into Go struct field ChatRequest.messages.content of type string",
        "request_format",
    ),
    (
        "json: cannot unmarshal array into Go struct field Message.messages.content of type string",
        "request_format",
    ),
    ("illegal base64 data at input byte 4", "request_format"),
    ("time: invalid duration", "context_or_options"),
    ("time: missing unit in duration", "context_or_options"),
    ("invalid think value", "request_format"),
    ("think must be a boolean or string", "request_format"),
    ("failed to decompress request body", "request_format"),
    ("failed to decompress zstd body", "request_format"),
    # 2.2 native endpoints
    ("raw mode does not support template, system, or context", "request_format"),
    ("top_logprobs must be between 0 and 20", "request_format"),
    ('"bge-m3" does not support chat', "unsupported_capability"),
    ("does not support generate", "unsupported_capability"),
    ("embedding models do not support chat", "unsupported_capability"),
    ("does not support tools", "unsupported_capability"),
    ("does not support insert", "unsupported_capability"),
    ("does not support thinking", "unsupported_capability"),
    ("Pull the model again to get the latest version with full thinking support", "unsupported_capability"),
    ('think value "high" is not supported for this model', "unsupported_capability"),
    ("model is required", "invalid_model_name"),
    ("invalid model name", "invalid_model_name"),
    ("use either :local or :cloud, not both", "invalid_model_name"),
    ("this server cannot run this remote model", "server_misconfig"),
    ("this model only supports one image while more than one image requested", "unsupported_capability"),
    ("more than one image sent", "unsupported_capability"),
    ("image generation models are not currently supported", "unsupported_capability"),
    ("format must be json", "request_format"),
    ('format must be empty or "json"', "request_format"),
    ("unsupported image format", "request_format"),
    ("invalid options: ", "context_or_options"),
    ("the input length exceeds the context length", "context_or_options"),
    ("the prompt is longer than the context length currently available to the model", "context_or_options"),
    ("exceeds the available context size", "context_or_options"),
    # /api/embed
    ("invalid input type", "request_format"),
    ("input length exceeds maximum context length", "context_or_options"),
    ("input exceeds maximum context length", "context_or_options"),
    ("input after truncation exceeds maximum context length", "context_or_options"),
    ("input exceeds maximum context length and cannot be truncated further", "context_or_options"),
    ("embedding contains NaN or Inf values", "server_misconfig"),
    ("llama runner process has terminated", "server_misconfig"),
    # model management
    ('name \\"llama3 8b\\" is invalid', "invalid_model_name"),
    ('source "llama3 8b" is invalid', "invalid_model_name"),
    ('destination "My Model" is invalid', "invalid_model_name"),
    ("source add destination are required", "invalid_model_name"),
    ("file path must be relative", "invalid_model_name"),
    ("invalid digest format", "invalid_model_name"),
    ("--draft-quantize requires a DRAFT model", "invalid_model_name"),
    ("neither 'from' or 'files' was specified", "invalid_model_name"),
    ("no files provided to convert", "invalid_model_name"),
    ("supplied file was not in GGUF format", "invalid_model_name"),
    ("unknown type", "invalid_model_name"),
    ("only one adapter is currently supported", "invalid_model_name"),
    ("DRAFT cannot be used with remote models", "invalid_model_name"),
    ("bad remote", "invalid_model_name"),
    ("path or modelfile are required", "invalid_model_name"),
    ("error reading modelfile: ", "invalid_model_name"),
    ('digest mismatch, expected "', "invalid_model_name"),
    ("pull model manifest: 400", "invalid_model_name"),
    # 2.3 compatibility layers
    ("[] is too short - 'messages'", "request_format"),
    ("invalid message format", "request_format"),
    ("invalid message content type: ", "request_format"),
    ("invalid image input", "request_format"),
    ("image URLs are not currently supported, please use base64 encoded data instead", "request_format"),
    ("invalid tool call arguments", "request_format"),
    ("invalid type for 'stop' field: ", "request_format"),
    ("invalid reasoning value: ", "request_format"),
    ("invalid input_audio", "request_format"),
    ("'message': 'invalid input'", "request_format"),
    ("Invalid value for 'encoding_format' = ", "request_format"),
    ("failed to parse multipart form: ", "request_format"),
    ("file is required: ", "request_format"),
    ("audio file is empty", "request_format"),
    ("input item missing required 'type' field", "request_format"),
    ("unknown input item type: ", "request_format"),
    ("file inputs are not currently supported", "request_format"),
    ("max_tokens is required and must be positive", "request_format"),
    ("messages is required", "request_format"),
    ("'invalid image source'", "request_format"),
    ("invalid image source type: url. Only base64 images are supported.", "request_format"),
    ("tool_use block missing required 'id' field", "request_format"),
    # section 5
    ("'message': 'EOF'", "request_format"),
    ("permission denied: ensure path elements are traversable", "server_misconfig"),
    ("http: request body too large", "request_format"),
    ("input must be a string or array: ", "request_format"),
    ("content must be a string or array: ", "request_format"),
    ("output must be a string or array: ", "request_format"),
    ("unknown content type: ", "request_format"),
    ("failed to parse function call arguments: ", "request_format"),
    ("failed to marshal tool parameters: ", "request_format"),
    ("failed to unmarshal tool parameters: ", "request_format"),
    ("tool_use block missing required 'name' field", "request_format"),
    ('invalid input_schema for tool \\"', "request_format"),
    ("invalid base64 image data: ", "request_format"),
    ("invalid tool_result image source", "request_format"),
    ('info field "license" must be a string', "invalid_model_name"),
    ('info field "context_length" must be a number', "invalid_model_name"),
    ("must be a non-negative integer", "invalid_model_name"),
    ("template error: ", "invalid_model_name"),
    ("empty prompt", "request_format"),
    ("exceeds the model's maximum context length", "context_or_options"),
    ("this model does not support image input", "unsupported_capability"),
    ("this model does not support audio input", "unsupported_capability"),
    ("this model does not support media input", "unsupported_capability"),
    ("model not loaded", "server_misconfig"),
    ("ResponseError: Bad Request (status code: 400)", "request_format"),
    ("decode Claude gateway request: ", "request_format"),
    ('unknown Claude model \\"', "invalid_model_name"),
    ('(must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none")', "request_format"),
    ("""'extreme' (must be "high", "medium", "low", or "none")""", "request_format"),
    ('msg="chat template prompt error"', "request_format"),
]


POSITIVE_EXAMPLES = [(e.text, e.category) for rule in BUILTIN.rules for e in rule.examples]


@pytest.mark.parametrize(("message", "category"), CATALOGUE_MESSAGES, ids=[m for m, _ in CATALOGUE_MESSAGES])
def test_every_catalogue_message_has_an_example_with_its_category(message: str, category: str) -> None:
    # The examples themselves are run by test_example_gets_its_declared_category.
    categories = {declared for text, declared in POSITIVE_EXAMPLES if message in text}
    assert category in categories, f"no example quoting {message!r} gets {category} (found {categories})"
