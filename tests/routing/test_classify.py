"""classify: task, complexity, needs and size of a request, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.routing import classify
from tests.routing.configs import user

TASKS = [
    ("Write a Python function that merges two sorted lists.", "code"),
    ("```js\nconst x = await fetch(url);\nconsole.log(x);\n```\nWhy does this hang?", "code"),
    ("My Rust program panics with a borrow checker error when I push to a vec in a loop.", "code"),
    ("def add(a, b):\n    return a + b\n\n# add type hints and tests", "code"),
    ("Solve for x: 3x^2 - 12x + 9 = 0.", "math"),
    ("Compute $\\int_0^1 x^2 \\, dx$ and simplify.", "math"),
    ("Tom has 3 apples and buys 5 more. How many apples does he have now?", "math"),
    ("What is the greatest common divisor of 7979 and 3713?", "math"),
    ("Which of these would most likely cause a plant to wilt? A) water B) drought", "reasoning"),
    ("Where would you put a dirty sock if you wanted to wash it?", "reasoning"),
    ("Clue(s):\n1. The cat lover lives left of the golfer.\nWho lives in house 2?", "reasoning"),
    ("who wrote the book the old man and the sea", "open_qa"),
    ("Who was the President of the United States during the Louisiana Purchase?", "open_qa"),
    ("What causes earthquakes?", "open_qa"),
    (
        "Summarize the following article in three bullet points: The city council met on "
        "Monday and approved the new budget after a long debate about school funding.",
        "summarization",
    ),
    ("tl;dr of this thread please: we moved the launch, QA found two bugs, legal is fine.", "summarization"),
    ("Extract every date and amount from this invoice text and list them.", "extraction"),
    ("Pull out all the email addresses in this text: ana@x.io wrote to bo@y.org.", "extraction"),
    ("Classify this review as positive, negative or neutral: 'Arrived late, works fine.'", "classification"),
    ("Is this message spam or not spam? 'You won a free cruise, click now!'", "classification"),
    ("Translate this paragraph into French: The weather is lovely today.", "rewrite"),
    ("Fix the grammar in this sentence: 'He don't like apples no more.'", "rewrite"),
    (
        "According to the passage, why did the bridge close? 'The bridge closed in May after "
        "inspectors found cracks in two of its steel cables.'",
        "closed_qa",
    ),
    ("Give me some ideas for a rainy Sunday with two toddlers.", "brainstorming"),
    ("Brainstorm names for a bakery that only sells sourdough.", "brainstorming"),
    (
        "Write a short story about a lighthouse keeper who finds a message in a bottle.",
        "generation",
    ),
    ("Compose a haiku about autumn rain.", "generation"),
    ("dog, frisbee, catch, throw, park, grass", "generation"),
    ("Напиши стихотворение про зиму.", "generation"),
    ("Hi! How are you today?", "chat"),
    ("Pretend you are a pirate captain and greet my crew.", "chat"),
]


@pytest.mark.parametrize(("text", "task"), TASKS)
def test_task(text: str, task: str) -> None:
    assert classify(user(text)).task == task


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}

NEEDS: list[tuple[dict[str, Any], set[str]]] = [
    (user("hello"), set()),
    (user("weather in Paris?", tools=TOOLS), {"tools"}),
    (user("weather in Paris?", tools=TOOLS, tool_choice="none"), set()),
    (user("list three colours", response_format={"type": "json_object"}), {"json"}),
    (user("list three colours", response_format={"type": "text"}), set()),
    (user("hi", stream=True), {"streaming"}),
    (
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "what is this?"}, IMAGE]}
            ]
        },
        {"vision"},
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "1", "content": "42"},
            ]
        },
        {"tools"},
    ),
]


@pytest.mark.parametrize(("body", "needs"), NEEDS)
def test_needs(body: dict[str, Any], needs: set[str]) -> None:
    assert classify(body).needs == needs


def test_tools_make_the_task_tool_use() -> None:
    c = classify(user("What's the weather in Paris?", tools=TOOLS))
    assert c.task == "tool_use"
    assert c.task_signals == ("tools in request",)


def test_a_conversation_without_another_task_is_chat() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "I finally finished the marathon!"},
            {"role": "assistant", "content": "Congratulations! How do you feel?"},
            {"role": "user", "content": "tired but so proud haha"},
        ]
    }
    assert classify(body).task == "chat"


def test_a_few_shot_prompt_is_judged_by_its_last_question() -> None:
    shot = "Q: Which gas do plants take in?\nA) oxygen B) carbon dioxide\nAnswer: B\n\n"
    body = user(shot * 3 + "Write a python function that reverses a list.\nAnswer:")
    assert classify(body).task == "code"
    assert classify(body).prompt_tokens > 60  # the cost still counts the whole prompt


EXPECTED: list[tuple[str, int, int]] = [
    # (prompt, low, high): a rewrite is as long as its text, a summary a fraction of it
    ("Rewrite this paragraph more formally: " + "we kinda messed up the numbers. " * 40, 300, 600),
    ("Summarize this: " + "The council met and argued about the budget. " * 60, 80, 200),
    ("Classify this review as positive or negative: 'great phone'", 10, 40),
]


@pytest.mark.parametrize(("text", "low", "high"), EXPECTED)
def test_expected_output_follows_the_task(text: str, low: int, high: int) -> None:
    assert low <= classify(user(text)).expected_output_tokens <= high


def test_routing_task_overrides_the_classifier() -> None:
    c = classify(user("Write a poem about the sea."), "code")
    assert (c.task, c.task_source) == ("code", "routing.task")


COMPLEXITY = [
    ("hi", 1, 1),
    ("What is the capital of France?", 1, 2),
    ("Write a python function to reverse a string.", 2, 4),
    (
        "Prove rigorously that the algorithm's asymptotic complexity is optimal, and derive the "
        "invariant.",
        5,
        8,
    ),
]


@pytest.mark.parametrize(("text", "low", "high"), COMPLEXITY)
def test_complexity(text: str, low: int, high: int) -> None:
    c = classify(user(text))
    assert low <= c.complexity <= high, c.complexity_signals


def test_complexity_names_its_signals_and_grows_with_length() -> None:
    short = classify(user("Explain the bug."))
    long = classify(user("Explain the bug. " + "The service logs this line again. " * 400))
    assert long.complexity > short.complexity
    assert any("tokens" in s for s in long.complexity_signals)
    assert 1 <= long.complexity <= 10


def test_expected_output_follows_brevity_cues_and_max_tokens() -> None:
    assert classify(user("Write an essay on trust.")).expected_output_tokens > 300
    brief = classify(
        user("Which is larger, A) 3 or B) 5? Print only the letter without explanation.")
    )
    assert brief.expected_output_tokens <= 10
    assert classify(user("Write an essay.", max_tokens=50)).expected_output_tokens == 50


def test_classification_reads_malformed_bodies_without_failing() -> None:
    for body in ({}, {"messages": "x"}, {"messages": [None, {"role": "user", "content": 3}]}):
        c = classify(body)
        assert c.task == "open_qa"
        assert c.prompt_tokens > 0


def test_to_json_is_plain_data() -> None:
    out = classify(user("Solve 2x = 4", stream=True)).to_json()
    assert out["task"] == "math" and out["needs"] == ["streaming"]
    assert isinstance(out["complexity_signals"], list)
