"The segmenter's template, document and shared-template rules, and its scores on the bundled evaluation sets (fast, deterministic)."
import json
from pathlib import Path
import pytest
from hypothesis import given, strategies as st
from semantic_kv.models import SemanticType as T, data_dir
from semantic_kv.segment import (placeholders, split_text, segment_request, segment_requests, segment_lines, read_segmented,
                                 SharedText, document_rule, classify_text)
from semantic_kv.segment_eval import load_requests, evaluate_requests, load_labelled, evaluate, label_agreement

def types(text, role='user', shared=None):
    "Types of the pieces of `text`, adjacent pieces of one type merged"
    out = []
    for _, t, _ in split_text(text, role, shared):
        if not out or out[-1] != t.value: out.append(t.value)
    return out

@pytest.mark.parametrize('text', ['Hi {name}, ref {order_id}', 'Dear {{ name }} / {{#each items}}', 'Use ${HOME_DIR} and ${x}',
    'Firm: $FIRM_NAME, $JURISDICTION', 'Brand <<BRAND>> tone <<TONE>>', 'To <CITY> via <origin city>', 'For [COMPANY] in [TARGET LANGUAGE]',
    'Dear [Customer Name], [Your name]', 'Today is %s, user %s', 'Dear %(name)s at %(company)s', '{% if vip %}Hi{% endif %}', 'Name: ____ Date: ____'])
def test_placeholder_syntaxes(text): assert placeholders(text) >= 2, text

@pytest.mark.parametrize('text', ['{"a": 1} and {:?} and <T> and {}', 'See [1] and [2](https://x.org) and [P1]', 'Use <b>bold</b> and <question>q</question>',
    'Costs 12.5% or 100%.', 'f"{name}" and `{value}` are code'])
def test_not_placeholders(text): assert placeholders(text) == 0, text

def test_system_templates():
    assert types("You are {assistant_name} for {company}. Be brief.", 'system') == ['template']
    assert types("Hello %s, your visit with %s is on %s.", 'developer') == ['template']
    assert types('Reply only with {"answer": "..."}; use f"{name}" in Python examples.', 'system') == ['system']
    assert types("<instructions>Be careful.</instructions>\n<style>Plain.</style>", 'system') == ['system']

def test_user_templates_and_questions():
    assert types("How do I escape {} in an f-string?") == ['user']
    assert types("Can you improve this prompt template?\n\nYou are {role}. Help {user} with {task}.") == ['user', 'template']
    assert types("Summarize the transcript in 5 bullets.\n\nTranscript:\n{transcript}\n\nSummary:") == ['template']
    assert types("Example 1:\nUser: hi\nAssistant: hello\n\nExample 2:\nUser: bye\nAssistant: ciao\n\nWhere is my order?") == ['template', 'user']

def test_document_structure():
    body = "Employees accrue 1.75 days of paid leave per month of service, up to 21 days per calendar year, and may carry five days over into the next year."
    assert document_rule(f"employee-handbook.pdf, p. 14\n{body}") == 'source-header'
    assert types(f"[1] Handbook (2024)\n{body}\n\n[2] Policy v3.1\n{body}\n\nHow much leave do I get?") == ['retrieved_context', 'user']
    assert types(f"Title: Leave policy\nContent: {body}\n\nCan I carry days over?") == ['retrieved_context', 'user']
    assert document_rule("Agent: Hello, how can I help?\nCustomer: My card was declined.\nAgent: I see a hold on it.\nCustomer: Why?") == 'transcript'
    assert document_rule("From: a@x.example\nTo: b@y.example\nSubject: Prices\n\nThe new price applies from May.") == 'email'
    assert types(f"I found this in the docs:\n\n\"{body}\"\n\nDoes this apply to contractors?") == ['user', 'retrieved_context', 'user']
    assert classify_text("Customers say exports fail on the Starter plan. Check the logs and the code and explain why. It started after "
                         "release 4.2. The on-call engineer restarted the pods. Keep the change small and add a regression test.")[0] == T.user

def test_document_then_user_paste():
    doc = "Source: Runbook (2024)\n" + "Restart the worker after changing the pool size, then watch the error rate for ten minutes. " * 2
    text = doc + "\n\nHere is the log:\n```\n2024-05-02T10:14:07Z ERROR pool exhausted\n2024-05-02T10:14:08Z WARN slow\n```\n\nWhat should I change?"
    assert types(text) == ['retrieved_context', 'user', 'retrieved_context', 'user']

def test_fence_opening_a_paragraph_after_a_document():
    "A fenced block that opens its own paragraph after a document (once a loop that never ended)"
    doc = "Source: Runbook (2024)\n" + "Restart the worker after changing the pool size, then watch the error rate. " * 3
    text = doc + "\n\n```\nx = 1\n```\n\n```\ny = 2\n```\n\nWhy?"
    assert ''.join(p for p, _, _ in split_text(text)) == text and types(text)[0] == 'retrieved_context'

def test_shared_templates():
    scaffold = "Classify the sentiment of the following product review as positive, negative or mixed. Reply with one word.\n\nReview: "
    reviews = ["Great blender, but loud.", "Broke after two days, avoid it.", "Does the job and is easy to clean."]
    reqs = [{'messages': [{'role': 'user', 'content': scaffold + r + "\nSentiment:"}]} for r in reviews]
    for sr in segment_requests(reqs, with_text=True):
        assert [s.semantic_type.value for s in sr.segments] == ['template', 'user', 'template']
        assert [s.rule for s in sr.segments] == ['shared-template', 'role:user', 'answer-cue']
    alone = segment_requests(reqs, shared_templates=False)[0]
    assert [s.semantic_type.value for s in alone.segments] == ['user', 'template']   # alone, only the answer cue shows
    same = segment_requests([reqs[0]] * 3)   # the same request three times: nothing varies, so no template
    assert [s.semantic_type.value for s in same[0].segments] == ['user', 'template']
    sys_reqs = [{'messages': [{'role': 'system', 'content': f"You are a support agent for {c}. The customer is {n} on the {p} plan. Be friendly and concise, and never promise refunds."},
                              {'role': 'user', 'content': 'Hi'}]} for c, n, p in [('Acme', 'Sofia Rossi', 'Pro'), ('Globex', 'Kenji Sato', 'Free')]]
    assert [s.semantic_type.value for s in segment_requests(sys_reqs)[0].segments] == ['template', 'user']

_frags = ['Context information is below.\n---\n', 'Source: a.pdf, p. 3\n', 'Review: ', '\nSentiment:', 'Question: q?\n', '{name} ', '[1] Doc (2024)\n',
          'The fee is due within 30 days of the invoice date and shall be paid in full. ', '\n\n', '```\nx = 1\n```\n', 'Example 1:\nUser: hi\n', '> quoted\n']
@given(st.lists(st.lists(st.sampled_from(_frags) | st.text(max_size=12), max_size=8), min_size=1, max_size=4),
       st.sampled_from(['user', 'system', 'developer']))
def test_shared_split_never_loses_content(texts, role):
    texts = [''.join(t) for t in texts]
    shared = SharedText(texts + [t + ' tail value' for t in texts])
    for t in texts:
        pieces = split_text(t, role, shared)
        assert ''.join(p for p, _, _ in pieces) == t

def test_segment_lines_shared_keeps_indices_and_errors():
    ok = json.dumps({'messages': [{'role': 'user', 'content': 'Hi'}]})
    stream = segment_lines([ok, 'not json', '', ok], 'x.jsonl', skip_invalid=True, shared_templates=True)
    assert [o['request_index'] for o in stream] == [0, 2] and stream.skipped == 1
    with pytest.raises(ValueError, match='x.jsonl:2'): list(segment_lines([ok, 'not json'], 'x.jsonl', shared_templates=True))

# Regression guards on the bundled sets (the published figures live in nbs/03_segment_eval.ipynb)
def test_scores_on_the_request_set():
    res = evaluate_requests(load_requests(data_dir()/'eval'/'requests_labelled.jsonl'))
    acc = res.groupby('split').correct.mean()
    assert acc['dev'] >= 0.97 and acc['heldout'] >= 0.97 and acc['fresh'] >= 0.95, acc.to_dict()

def test_score_on_the_first_set():
    assert evaluate(load_labelled(data_dir()/'eval'/'segments_labelled.jsonl')).correct.mean() >= 0.97

def test_workload_agreement():
    from semantic_kv.workloads import list_workload_configs, generate
    for p in list_workload_configs():
        cm = label_agreement(generate(p, 0, 40, labels=True), segment_requests(generate(p, 0, 40), with_text=True))
        agree = sum(cm.loc[t, t] for t in cm.index if t in cm.columns) / cm.values.sum()
        assert agree >= 0.95, (p.stem, agree)
