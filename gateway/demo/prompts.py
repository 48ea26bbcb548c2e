"""The demo, its sample prompts: a few of every task the router knows, so `auto` spreads them out.

Some share a system prompt (the simulated cache reports those tokens as cached); one carries a
tool, one asks for JSON. Plain data: `traffic.py` picks from it.
"""

from __future__ import annotations

from typing import Any

SYSTEM = ("You are a concise assistant for an engineering team. Answer precisely, state your "
          "assumptions, and prefer short examples over long explanations.")

PROMPTS: tuple[str, ...] = (
    # code
    "Write a Python function that merges two sorted lists in linear time.",
    "Fix this bug: `for i in range(len(xs)): xs.remove(xs[i])` raises IndexError.",
    "Refactor this JavaScript callback chain into async/await: fetch(a).then(r => r.json())",
    "Write unit tests with pytest for a function that parses ISO-8601 durations.",
    # math
    "Solve for x: 3x^2 - 12x + 9 = 0, and show the steps.",
    "What is the integral of x * e^x dx?",
    "A train travels 240 km in 3 hours, then 180 km in 2 hours. What is its average speed?",
    # reasoning
    "If all bloops are razzies and some razzies are lazzies, must some bloops be lazzies?",
    "Three boxes are labelled apples, oranges and mixed, all wrongly. You may pick one fruit "
    "from one box. How do you relabel them?",
    # open_qa
    "What is the capital of Australia?",
    "Who wrote the novel 'One Hundred Years of Solitude'?",
    "Why is the sky blue?",
    # closed_qa
    "Based on this text, when was the bridge opened? 'The Golden Gate Bridge, completed in "
    "1937, spans the strait between San Francisco Bay and the Pacific.'",
    # summarization
    "Summarize in two sentences: The meeting covered the Q3 roadmap, the migration of the "
    "billing service to the new cluster, hiring for two backend roles, and the incident "
    "review of last week's outage caused by an expired certificate.",
    "TL;DR of this changelog: added retries with jitter, removed the legacy v1 endpoints, "
    "fixed a memory leak in the stream parser, bumped the minimum Python to 3.11.",
    # extraction
    "Extract the name, email and company from: 'Hi, I'm Dana Reyes (dana@acme.io), CTO at "
    "Acme Robotics.'",
    "List every date mentioned in: 'Kick-off on 3 March, review on 14 April, launch 2 June.'",
    # classification
    "Classify the sentiment of this review as positive, negative or neutral: 'The battery "
    "lasts two days but the screen scratches easily.'",
    "Is this support ticket about billing, a bug, or a feature request? 'I was charged twice "
    "for the March invoice.'",
    # rewrite
    "Rewrite this more politely: 'Send me the report now, it is late.'",
    "Translate to French: 'The deployment finished without errors.'",
    # generation
    "Write a short poem about a lighthouse keeper who collects lost messages.",
    "Draft a product announcement for a new dark mode in our mobile app.",
    # brainstorming
    "Give me ten name ideas for a coffee shop run by robots.",
    "Brainstorm ways to reduce our CI pipeline time from 20 minutes to 5.",
    # chat
    "hey! how's it going?",
    "Thanks, that helped a lot :)",
)

WEATHER_TOOL: dict[str, Any] = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "required": ["city"],
                   "properties": {"city": {"type": "string"},
                                  "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}}
TOOL_PROMPT = "What's the weather like in Lisbon right now?"
JSON_PROMPT = "Return the three largest planets with their diameters as JSON."
