"""Build `requests_labelled.jsonl`: labelled chat requests for the segmenter, in the styles of public prompt
collections and RAG / agent frameworks.

Run from anywhere: `python data/eval/make_requests_eval.py` (deterministic: the same file every time).

Every line is one request: `{"id", "split", "style", "request", "labels", "note"}`. `request` is an OpenAI
chat-completions body; `labels[i]` is the list of expected segment types of message `i`, in order (adjacent
segments of the same type count as one). Entries of `tools` are not scored.

Labelling conventions:
- `template`: the fixed scaffolding of a prompt template: a template with unfilled placeholders (any syntax),
  or a filled one whose instruction text is shared by several requests of the same split (the requests of a
  `group` are instances of one template); a trailing answer cue (`Answer:`) after a filled slot is scaffolding.
- the values filled into a template are `user` (the user's question or short input) or `retrieved_context`
  (a document, passage, record or pasted text).
- `retrieved_context`: documents, numbered passages, knowledge-base articles, exhibits, contract clauses,
  transcripts, e-mails, clinical notes, logs; wherever they appear (user or system message).
- `system`: instructions of a system/developer message that are not a template (no placeholders, not shared
  with different values).

Split: every pool of hand-written material is cut in two; the `dev` requests draw only from the first half,
the `heldout` requests only from the second, so held-out requests use texts the rules were not written against.
The `fresh` split has pools of its own, written after the rules had been tuned on dev and corrected once after
the first look at held-out; it is scored once, at the end.
"""
import json, random
from pathlib import Path

OUT = Path(__file__).with_name('requests_labelled.jsonl')

def half(pool, split):
    "The part of a pool a split may use (the `fresh` split has pools of its own)"
    if split == 'fresh': return FRESH[_FRESH_OF[id(pool)]]
    return pool[0::2] if split == 'dev' else pool[1::2]

# --------------------------------------------------------------------------------------------------------
# Unfilled templates (placeholders in many syntaxes), as written in prompt collections and app configs.
UNFILLED = [
    "You are a customer support agent for {company_name}. Greet the customer by name ({customer_name}) and answer questions about {product}.\nAlways be polite. If you cannot help, offer to open a ticket.",
    "You are {{assistant_name}}, a friendly tutor for {{subject}} students in grade {{grade}}.\nExplain concepts step by step and check understanding with a short question at the end.",
    "Act as a ${role} with ${years} years of experience. Review the user's ${artifact} and list the three most important improvements.",
    "You are a travel planner. The traveller is <traveller name>, flying from <origin city> to <destination city> on <date>.\nSuggest an itinerary that fits a budget of <budget>.",
    "SYSTEM PROMPT v2\nYou write product descriptions for <<BRAND>>.\nTone: <<TONE>>\nTarget audience: <<AUDIENCE>>\nKeep every description under <<MAX_WORDS>> words.",
    "You are an assistant for [COMPANY]. Answer questions about [PRODUCT] using a [TONE] tone. Never discuss pricing; direct pricing questions to [SALES EMAIL].",
    "You are a helpful assistant. Today is %s. The user's name is %s and their preferred language is %s.",
    "You are a recruiter at %(company)s writing to %(candidate)s about the %(position)s role. Keep the message short and mention %(benefit)s.",
    "{% if user.is_premium %}You are a premium concierge for {{ user.first_name }}. Offer priority options first.{% else %}You are a support assistant. Mention the upgrade path when relevant.{% endif %}\nAnswer in {{ locale | default('English') }}.",
    "You are an expert in {domain}. The user is a {expertise_level}.\n\nGuidelines:\n- Adapt your vocabulary to a {expertise_level}.\n- Cite sources when making claims about {domain}.\n- Answer in {output_language}.",
    "Persona: {{persona}}\nGoal: {{goal}}\nConstraints:\n{{#each constraints}}\n- {{this}}\n{{/each}}\nRespond as the persona would.",
    "You are a medical scribe for Dr. [PHYSICIAN NAME] at [CLINIC]. Summarise the visit in SOAP format. Do not invent findings that are not in the transcript.",
    "Role: Legal assistant at $FIRM_NAME.\nJurisdiction: $JURISDICTION\nYou draft first versions of $DOCUMENT_TYPE documents. Flag any clause you are unsure about with [REVIEW].",
    "You are the onboarding bot for {team}. New hires start on {start_date}. Their manager is {manager}. Answer questions about the first week and point to {handbook_url} for details.",
    "Write in the voice of <brand_voice>. Product: <product_name>. Key features: <feature_list>. Call to action: <cta>.",
    "You are {{ bot_name }}, the virtual assistant of {{ bank_name }}.\n{% for rule in compliance_rules %}- {{ rule }}\n{% endfor %}\nNever ask for full card numbers.",
    "Instructions for the summariser:\n1. Read the meeting notes for {{meeting_title}} held on {{meeting_date}}.\n2. List decisions, owners and deadlines.\n3. Send the summary to {{distribution_list}}.",
    "You help sales reps prepare for calls. Account: ${ACCOUNT}. Industry: ${INDUSTRY}. Last contact: ${LAST_CONTACT_DATE}. Open opportunities: ${OPEN_OPPS}.",
    "You are an assistant that answers as {character} from {work}. Stay in character. If asked about events after {cutoff_event}, say you do not know about them.",
    "Translate the user's messages from [SOURCE LANGUAGE] into [TARGET LANGUAGE]. Keep names, numbers and URLs unchanged. Use a [FORMALITY] register.",
    "Dear <<CUSTOMER_NAME>>,\n\nThank you for contacting <<COMPANY>> about order <<ORDER_ID>>. We have <<RESOLUTION>> and you will hear from us by <<DATE>>.\n\nKind regards,\n<<AGENT_NAME>>",
    "You are a code reviewer for a {language} code base that follows {style_guide}. Point out bugs first, then style issues. Suggest fixes as {diff_format}.",
    "Hello %s,\n\nYour appointment with %s is confirmed for %s at %s. Reply CANCEL to cancel.",
    "You are a research assistant for {{ org }}. Use the {{ search_tool }} tool for anything after {{ knowledge_cutoff }}. Cite every source as [n].",
]

# System prompts that are NOT templates: braces in JSON examples, XML tags, links, citations, percentages, brackets.
SYSTEMS = [
    "You are a helpful assistant.",
    "You are a support assistant for Lumen Bank. Answer questions about accounts, cards and transfers. Never ask for a full card number or a PIN. If the user reports fraud, tell them to call the number on the back of their card.",
    "You are a JSON API. Reply only with an object like {\"answer\": \"...\", \"confidence\": 0.0} and nothing else.",
    "<instructions>\nYou are a careful research assistant. Think through the question before answering and keep the final answer short.\n</instructions>\n<style>Plain English, no jargon.</style>",
    "You are Claude, an AI assistant. When you quote a document, cite it as [1], [2] and so on, matching the order in which the documents were given.",
    "You are a senior Python engineer. Prefer the standard library. When you show code, use fenced blocks and explain each change in one sentence. Use f-strings such as f\"{name}\" rather than % formatting.",
    "You are a concise assistant. Answers must be under 120 words. Use bullet points for lists of more than three items. Round percentages to one decimal (e.g. 12.5%).",
    "You are an internal IT helpdesk bot. Escalate anything involving production outages to the on-call engineer. Link to the runbook at https://wiki.example.internal/runbooks when relevant. Tag urgent tickets with [P1].",
    "You are a paralegal assistant at a commercial law firm. You do not give legal advice to the public. Keep privileged material confidential and identify every clause you rely on by its section number.",
    "You are a clinical documentation assistant. Use standard abbreviations (BP, HR, SpO2). Never recommend dosages; point the clinician to the formulary instead.",
    "Respond in Markdown. Use `inline code` for identifiers and [links](https://docs.example.com) only to official documentation.",
    "You are a math tutor. Show the steps, use LaTeX like $x^2 + y^2 = z^2$ for formulas, and ask the student to try the next step before you reveal it.",
    "You are Atlas, the shopping assistant of Northwind Outdoor. You can look up orders, check stock and start returns with your tools. Returns are accepted within 30 days; sale items are final.",
    "Developer note: this assistant is deployed in the EU. Do not store personal data in tool arguments beyond what the call needs. Log nothing that identifies a person.",
    "You are a data analyst. When asked for a query, write ANSI SQL and explain the joins. Dates are stored in UTC.",
    "Knowledge cutoff: 2024-06. Current date: 2025-02-11. You are a general assistant; say so when a question needs information after your cutoff.",
]

# One-off user questions and instructions.
QUESTIONS = [
    "What is the difference between a Roth IRA and a traditional IRA?",
    "Can you explain how HTTPS certificates are validated?",
    "Write a haiku about autumn rain.",
    "How do I escape curly braces like {} in a Python f-string?",
    "My order hasn't arrived yet. It's been 12 days. What can I do?",
    "Summarize the main causes of the French Revolution in five bullet points.",
    "What does %s mean in a C printf format string?",
    "I need a polite way to decline a meeting invitation from my manager.",
    "Why does my sourdough come out flat?",
    "Is it safe to take ibuprofen with coffee?",
    "Give me three ideas for a team-building activity for a remote team of 12.",
    "How many days of annual leave do I get in my first year?",
    "What's the fastest way to learn touch typing?",
    "Explain the difference between TCP and UDP like I'm 12.",
    "Can you check whether my password reset link is still valid? I requested it an hour ago.",
    "Wie kann ich mein Abonnement kündigen?",
    "Draft a two-sentence apology to a customer whose delivery was late.",
    "What are <template> tags used for in HTML?",
    "Does the free plan include API access?",
    "Please recommend a beginner-friendly book on statistics.",
    "[URGENT] The checkout page shows a blank screen for all users since 10:40. What should I check first?",
    "Quelle est la capitale de l'Australie ?",
    "How long should I boil an egg for a runny yolk?",
    "What is the ${HOME} variable in bash and how do I print it?",
]

# --------------------------------------------------------------------------------------------------------
# Documents of many kinds. Each: (header, body) where the header is the source/citation line as it would
# appear in a RAG prompt (rendered differently by each style).
DOCS = [
    ("Help Center > Billing > Changing your plan (updated 2024-03-02)",
     "You can upgrade at any time from Settings > Billing. The new price applies immediately and we charge the prorated difference for the rest of the billing period. Downgrades take effect at the end of the current period, and features that are not part of the lower plan are switched off on that date. Annual plans can be downgraded only at renewal."),
    ("employee-handbook.pdf, p. 14",
     "Full-time employees accrue 1.75 days of paid annual leave per month of service, up to 21 days per calendar year. Leave accrued in the first three months can be taken only after the probation period ends. Up to five unused days may be carried over into the first quarter of the following year; any remaining balance lapses on March 31."),
    ("https://docs.northwind.io/api/rate-limits",
     "Each API key is limited to 600 requests per minute and 20,000 requests per day. Requests over the limit receive HTTP 429 with a Retry-After header giving the number of seconds to wait. Batch endpoints count as one request per item in the batch. Enterprise customers can request higher limits through their account manager."),
    ("Clinical guideline: Management of type 2 diabetes in adults (2022 update), section 1.6.2",
     "Offer metformin as first-line treatment to adults with type 2 diabetes unless contraindicated. Review the dose if the estimated glomerular filtration rate falls below 45 ml/min/1.73 m2, and stop metformin if it falls below 30 ml/min/1.73 m2. Consider adding an SGLT2 inhibitor for people with established cardiovascular disease or at high cardiovascular risk."),
    ("Wikipedia — Great Barrier Reef",
     "The Great Barrier Reef is the world's largest coral reef system, composed of over 2,900 individual reefs and 900 islands stretching for over 2,300 kilometres over an area of approximately 344,400 square kilometres. The reef is located in the Coral Sea, off the coast of Queensland, Australia. It can be seen from outer space and is the world's biggest single structure made by living organisms."),
    ("Product manual, Aero X2 dishwasher, chapter 5 'Troubleshooting'",
     "Error E24 means the water is not draining. Switch the appliance off, remove the lower basket and check the filter for food residue. Make sure the drain hose is not kinked and that the siphon connection is clear. If the error persists after cleaning, run the drain test program by pressing Start and Half Load together for three seconds."),
    ("Internal wiki: Incident postmortem INC-2291 (checkout outage, 14 May)",
     "Between 10:42 and 11:27 UTC the checkout service returned errors for 38% of requests. The cause was a configuration change that lowered the database connection pool from 200 to 20 connections during a routine deploy. The change passed review because the diff only showed a renamed variable. We rolled back at 11:19 and traffic recovered by 11:27. Follow-up actions: add a canary stage for configuration changes and alert on pool saturation."),
    ("Drug label: Amoxicillin capsules — INDICATIONS AND USAGE; DOSAGE AND ADMINISTRATION",
     "Amoxicillin is indicated for the treatment of infections of the ear, nose and throat, the genitourinary tract, the skin and the lower respiratory tract caused by susceptible bacteria. Adults: 500 mg every 12 hours or 250 mg every 8 hours for mild to moderate infections; 875 mg every 12 hours for severe infections. Dosing in patients with a creatinine clearance below 30 mL/min must be adjusted."),
    ("Acme Corp FY2023 Annual Report, Management discussion, p. 37",
     "Revenue grew 12% to $4.1 billion, driven by the cloud segment, which grew 31%. Gross margin declined by 1.8 percentage points because of higher hardware costs in the devices segment. Operating expenses were flat as savings from the restructuring announced in the second quarter offset wage inflation. We expect capital expenditure to rise to about $600 million next year."),
    ("Confluence / Engineering / Onboarding / Local development setup",
     "Install Docker Desktop and make sure it has at least 8 GB of memory. Clone the monorepo and run make bootstrap, which installs the pinned toolchain and pre-commit hooks. The first build downloads about 3 GB of dependencies and takes roughly twenty minutes. If the build fails with a permissions error on macOS, grant Docker full disk access in System Settings."),
    ("Tenancy agreement, clause 9 (Repairs)",
     "The Landlord shall keep in repair the structure and exterior of the Property, including drains, gutters and external pipes, and the installations for the supply of water, gas, electricity and sanitation. The Tenant shall notify the Landlord in writing of any disrepair within fourteen (14) days of becoming aware of it and shall permit access for inspection upon twenty-four (24) hours' notice."),
    ("Zendesk macro library: 'Refund — damaged item'",
     "Apologise for the damaged item and ask the customer for a photo of the damage and of the shipping label. Once the photo is received, issue a full refund to the original payment method; there is no need to return the item. Refunds appear on the customer's statement within 5 to 10 business days depending on the bank."),
    ("Patient chart, progress note 2024-02-19 (Source: EHR)",
     "64-year-old male, two days after laparoscopic cholecystectomy. Afebrile, BP 132/84, HR 78, SpO2 97% on room air. Tolerating a soft diet. Mild pain at the port sites controlled with paracetamol. Wounds clean and dry. Plan: discharge home today, follow-up in surgical clinic in two weeks, return if fever or jaundice develops."),
    ("Supreme Court opinion, Smith v. Jones (2019), Part II.A",
     "The statute's text is unambiguous. It requires that notice be given \"in writing\" and \"within thirty days\" of the triggering event. Petitioner concedes that no written notice was sent until the forty-fifth day. The Court of Appeals therefore erred in holding that actual knowledge of the claim could substitute for the written notice that Congress required."),
    ("Release notes, version 5.2.0 (GitHub release)",
     "Added: support for Python 3.12; a --dry-run flag for the migrate command. Changed: the default connection timeout is now 30 seconds instead of 10. Fixed: a memory leak when streaming large responses; incorrect time zones in exported CSV files. Deprecated: the legacy sync client, which will be removed in 6.0."),
    ("Insurance policy wording, Section 4 — Exclusions",
     "We will not pay for loss or damage caused by wear and tear, gradual deterioration, rust or corrosion; by insects or vermin; by the failure of any electrical or mechanical appliance unless damage to the Buildings results; or by any faulty workmanship. This exclusion does not apply to resulting damage that is otherwise covered under this Policy."),
    ("Earnings call transcript, Q3 2024 (Company: Helix Energy)",
     "Operator: Our next question comes from Dana Whitfield at Granite Capital.\nDana Whitfield: Thanks. Can you talk about the margin outlook for the storage business?\nMaria Lindqvist (CFO): Sure. We expect storage margins to stay in the low twenties through the first half, as the new cell contracts only reprice in July.\nDana Whitfield: And capex?\nMaria Lindqvist (CFO): Unchanged at 1.2 billion for the year."),
    ("Support call transcript #88213 (2024-05-07, 14:02)",
     "Agent: Thanks for calling Lumen Bank, this is Rafael. How can I help?\nCustomer: Hi, my card was declined at a petrol station this morning even though I have money in the account.\nAgent: I'm sorry about that. I can see a fraud hold placed at 07:58 after a transaction attempt abroad.\nCustomer: That wasn't me.\nAgent: Understood. I'll block the card and order a replacement, which arrives in 3 to 5 working days."),
    ("Meeting transcript — Platform weekly, 2024-06-12",
     "[00:00:14] Priya: Let's start with the migration. Where are we?\n[00:00:21] Tom: Twelve of fifteen services are on the new cluster. The last three depend on the legacy queue.\n[00:01:05] Priya: What's blocking the queue work?\n[00:01:09] Lena: We need a maintenance window from the payments team. I asked for next Tuesday.\n[00:01:40] Priya: OK, Tom owns the cutover plan, due Friday."),
    ("Deposition of Mark Ellison, taken March 3, 2023, pages 41-42",
     "Q. Did you receive the termination notice on April 2?\nA. I believe it arrived the following week.\nQ. Who opened the mail at your office at that time?\nA. Our office manager, usually.\nQ. Did she tell you that a notice had arrived?\nA. Not that I recall."),
    ("Standard Contractual Clauses, Clause 8.6 (Security of processing)",
     "The data importer and, during transmission, also the data exporter shall implement appropriate technical and organisational measures to ensure the security of the data, including protection against a breach of security leading to accidental or unlawful destruction, loss, alteration, unauthorised disclosure or access. In assessing the appropriate level of security, the Parties shall take due account of the state of the art and the costs of implementation."),
    ("Kubernetes documentation — Pod lifecycle",
     "A Pod's status field is a PodStatus object, which has a phase field. The phase of a Pod is a simple, high-level summary of where the Pod is in its lifecycle. Pending means the Pod has been accepted by the cluster, but one or more of the containers has not been set up and made ready to run. Running means the Pod has been bound to a node and all of the containers have been created."),
    ("Email from J. Okafor to procurement@halvorsen.example, 2023-11-08",
     "Hi team,\n\nFollowing our call, the supplier confirmed that the revised price of $14.20 per unit applies to all orders placed after December 1. They will not honour the old price for the backlog. Please hold the pending purchase orders until legal has reviewed the amendment.\n\nBest,\nJames"),
    ("Radiology report, CT chest with contrast (2024-01-30)",
     "Findings: A 9 mm solid nodule in the right upper lobe, unchanged from the prior study of 2023-07-14. No mediastinal or hilar lymphadenopathy. No pleural effusion. Impression: Stable right upper lobe nodule; per guidelines, a follow-up CT in 12 months is suggested."),
    ("GDPR, Article 17 (Right to erasure)",
     "The data subject shall have the right to obtain from the controller the erasure of personal data concerning him or her without undue delay and the controller shall have the obligation to erase personal data without undue delay where the personal data are no longer necessary in relation to the purposes for which they were collected or otherwise processed."),
    ("Recipe blog: 'Weeknight ramen' by Chef Aiko",
     "Simmer the stock with ginger, garlic and a strip of kombu for twenty minutes, then remove the kombu before it turns bitter. Season with soy sauce and a spoon of miso whisked in off the heat. Cook the noodles separately so the starch does not cloud the broth, and top each bowl with a soft-boiled egg, scallions and sesame oil."),
    ("Stack Overflow answer (score 812) to 'Why is reading lines from stdin much slower in C++ than Python?'",
     "By default, cin is synchronized with stdio, which causes it to avoid any input buffering. If you add cin.sync_with_stdio(false) at the top of your main, you should see much better performance. With the synchronization turned off, the C++ streams are allowed to produce their own buffers, which makes reading much faster."),
    ("HR policy: Remote work policy v3.1, section 2",
     "Employees may work remotely up to three days per week with the agreement of their manager. Remote work from another country is limited to 20 working days per calendar year and requires prior approval from HR, because of tax and social security rules. Equipment provided by the company remains company property and must be returned on request."),
    ("News: Reuters, 2024-04-18 'Central bank holds rates steady'",
     "The central bank kept its benchmark interest rate unchanged at 4.5% on Thursday, as expected, saying that inflation had eased but remained above its 2% target. Two of the nine committee members voted for a quarter-point cut. The bank said it would need to see further evidence of cooling wage growth before lowering borrowing costs."),
    ("Lease abstract, Exhibit D — Rent schedule",
     "Years 1-2: $42.00 per rentable square foot per annum. Years 3-5: $44.50 per rentable square foot per annum. Operating expenses are payable monthly in advance based on the Landlord's reasonable estimate, reconciled annually within 120 days after the end of each calendar year."),
    ("Patient education leaflet: Warfarin and diet (Hospital pharmacy, 2023)",
     "Vitamin K affects how warfarin works. You do not need to avoid foods rich in vitamin K, such as spinach, kale and broccoli, but try to eat similar amounts each week. Tell your anticoagulation clinic before making big changes to your diet, starting supplements, or drinking more alcohol than usual."),
    ("Terraform docs — aws_s3_bucket_lifecycle_configuration",
     "Provides an independent configuration resource for S3 bucket lifecycle configuration. An S3 Lifecycle configuration consists of one or more Lifecycle rules. Each rule consists of an ID, a status indicating whether the rule is in effect, a filter identifying the subset of objects to which the rule applies, and one or more actions such as transitions and expirations."),
]

DOC_QUESTIONS = [
    "Based on this, can I downgrade my annual plan in the middle of the year?",
    "What does this say about carrying over unused leave?",
    "What should my client do when they hit the limit?",
    "When should metformin be stopped?",
    "Summarise this in two sentences.",
    "How do I fix error E24?",
    "What was the root cause, and what are we doing so it does not happen again?",
    "What is the adult dose for a severe infection?",
    "Why did gross margin go down?",
    "What should I do if the build fails on my Mac?",
    "Who is responsible for fixing a blocked drain under this clause?",
    "Do we need the customer to send the item back?",
    "Is the patient ready to go home? What is the follow-up plan?",
    "What was the court's holding on actual knowledge?",
    "Is there anything in these notes that would break our Python 3.8 deployment?",
    "Would a burst pipe caused by corrosion be covered?",
    "What did the CFO say about margins?",
    "Was the card replaced, and how long will it take?",
    "Who owns the cutover plan and when is it due?",
    "Does this testimony help us argue that notice was received late?",
    "Which security measures does this clause require?",
    "What does the Running phase mean?",
    "Can we still order at the old price?",
    "Does the nodule need a biopsy?",
    "When must a company delete my data?",
    "Why do you cook the noodles separately?",
    "How do I speed up reading input in C++?",
    "Can I work from Spain for a month?",
    "Why didn't the bank cut rates?",
    "What is the rent per square foot in year 4?",
    "Do I have to stop eating spinach?",
    "What parts make up a lifecycle rule?",
]
assert len(DOC_QUESTIONS) == len(DOCS)
QPOOL = DOC_QUESTIONS + QUESTIONS[:6]

# --------------------------------------------------------------------------------------------------------
# Filled templates: each a list of pieces (kind, text) where kind is 'T' (scaffold), 'D' (a document slot),
# 'Q' (the question slot), 'V' (a short user value); `{D}` `{Q}` `{V}` `{DOCS}` are filled per request.
def render_docs(style, docs):
    "Several documents rendered the way a framework would"
    out = []
    for i, (h, b) in enumerate(docs, 1):
        if style == 'numbered': out.append(f"[{i}] {h}\n{b}")
        elif style == 'source': out.append(f"Source: {h}\n{b}")
        elif style == 'xml': out.append(f"<document index=\"{i}\">\n<source>{h}</source>\n<document_content>\n{b}\n</document_content>\n</document>")
        elif style == 'markdown': out.append(f"### {h}\n{b}")
        elif style == 'dashes': out.append(f"{b}\n(source: {h})")
        elif style == 'passage': out.append(f"Passage {i} ({h}):\n{b}")
        elif style == 'plain': out.append(b)
        elif style == 'title': out.append(f"Title: {h}\nContent: {b}")
        elif style == 'cite': out.append(f"{b} [{i}]")
        elif style == 'doc_id': out.append(f"doc_id: {1000 + 37 * i}\ntitle: {h}\ntext: {b}")
    if style == 'xml': return "<documents>\n" + '\n'.join(out) + "\n</documents>"
    if style == 'cite': return ' '.join(out) + '\n\nReferences: ' + '; '.join(f"[{i}] {h}" for i, (h, _) in enumerate(docs, 1))
    return '\n\n'.join(out)

FILLED = [  # (name, pieces, doc style, note)
    ("langchain-rag-qa", [('T', "Use the following pieces of context to answer the question at the end. If you don't know the answer, just say that you don't know, don't try to make up an answer.\n\n"), ('D', None), ('T', "\n\nQuestion: "), ('Q', None), ('T', "\nHelpful Answer:")], 'plain', "LangChain-style stuff QA prompt"),
    ("llamaindex-qa", [('T', "Context information is below.\n---------------------\n"), ('D', None), ('T', "\n---------------------\nGiven the context information and not prior knowledge, answer the query.\nQuery: "), ('Q', None), ('T', "\nAnswer: ")], 'source', "LlamaIndex-style text QA prompt"),
    ("haystack-rag", [('T', "Given the following information, answer the question. If the answer is not contained in the documents, say so.\n\nContext:\n"), ('D', None), ('T', "\n\nQuestion: "), ('Q', None), ('T', "\nAnswer:")], 'title', "Haystack-style Jinja prompt, rendered"),
    ("sentiment-classifier", [('T', "Classify the sentiment of the following product review as positive, negative or mixed. Reply with one word.\n\nReview: "), ('V', None), ('T', "\nSentiment:")], None, "classification template, filled"),
    ("invoice-extraction", [('T', "Extract the following fields from the document and return them as JSON with the keys vendor, invoice_number, date, total and currency. Use null for missing fields.\n\nDocument:\n"), ('D', None)], 'plain', "extraction template, filled"),
    ("anthropic-xml-qa", [('T', "Here are some documents for you to reference for your task:\n\n"), ('D', None), ('T', "\n\nFirst, find the quotes from the documents that are most relevant to the question, and print them in numbered order inside <quotes></quotes> tags. Then answer the question inside <answer></answer> tags.\n\n<question>"), ('Q', None), ('T', "</question>")], 'xml', "Anthropic-style long-context prompt with XML tags"),
    ("summarise-article", [('T', "Write a concise summary of the following text for a busy executive. Use at most three bullet points and do not add information that is not in the text.\n\nTEXT:\n"), ('D', None), ('T', "\n\nSUMMARY:")], 'plain', "summarisation template"),
    ("perplexity-style-answer", [('T', "You are given search results for a user query. Write an accurate answer using only these results and cite them inline like [1].\n\nSearch results:\n"), ('D', None), ('T', "\n\nUser query: "), ('Q', None)], 'numbered', "search-engine answer template"),
    ("support-reply-draft", [('T', "Draft a reply to the customer message below. Follow the support style guide: greet the customer by name, acknowledge the issue, give one concrete next step, sign off as 'The Northwind Team'. Keep it under 120 words.\n\nCustomer message:\n"), ('V', None)], None, "reply-drafting template"),
    ("react-agent", [('T', "Answer the following questions as best you can. You have access to the following tools:\n\nsearch: useful for when you need to answer questions about current events\ncalculator: useful for when you need to do arithmetic\n\nUse the following format:\n\nQuestion: the input question you must answer\nThought: you should always think about what to do\nAction: the action to take, one of [search, calculator]\nAction Input: the input to the action\nObservation: the result of the action\n... (this Thought/Action/Action Input/Observation can repeat N times)\nThought: I now know the final answer\nFinal Answer: the final answer to the original input question\n\nBegin!\n\nQuestion: "), ('Q', None), ('T', "\nThought:")], None, "ReAct agent prompt (LangChain style), filled"),
    ("medical-rag", [('T', "You are assisting a clinician. Answer strictly from the clinical sources below; if they do not answer the question, say \"not covered by the provided sources\". Give the source number for every statement.\n\n"), ('D', None), ('T', "\n\nClinician question: "), ('Q', None)], 'passage', "medical RAG template"),
    ("legal-clause-review", [('T', "Review the contract clause below for a client who is the tenant. Identify obligations, deadlines and any terms that are unusual for a commercial lease. Answer in the format:\nObligations:\nDeadlines:\nUnusual terms:\n\nClause:\n"), ('D', None)], 'plain', "legal clause review template"),
    ("translation", [('T', "Translate the text between the triple quotes into French. Keep the formatting and do not translate product names.\n\n\"\"\""), ('V', None), ('T', "\"\"\"")], None, "translation template with delimiters"),
    ("kb-answer-with-sources", [('T', "Answer the customer's question using the help-center articles. Quote the article title you used. If no article applies, hand over to a human.\n\n## Articles\n"), ('D', None), ('T', "\n\n## Customer question\n"), ('Q', None)], 'markdown', "help-center RAG template"),
]

VALUES = [  # short user inputs filled into templates
    "The blender is powerful and easy to clean, but it is louder than I expected.",
    "Arrived broken and the seller never answered my emails. Avoid.",
    "Hi, I ordered a tent (order 55821) three weeks ago and it still says 'processing'. Can you tell me what's going on? - Sam",
    "Our office closes early on Friday for the summer party. Please submit your timesheets by Thursday noon.",
    "Best headphones I've owned. Battery lasts all week.",
    "Hello, the app logs me out every time I switch to another app on my phone. Very annoying! Regards, Ingrid",
    "The meeting has been moved to room 4B. Coffee will be served at 9:30.",
    "Fit is great, colour faded after two washes though.",
    "I was charged twice for my March subscription. Please refund one of the charges. Thanks, Kwame Osei",
    "Please keep the tent and sleeping bags dry and store them in the garage.",
]

REACT_QUESTIONS = ["What is the population of the capital of Canada divided by 3?", "Who won the most recent Tour de France and how old are they?",
                   "How many minutes are there in 17.5 hours?", "What is the current exchange rate of euros to yen, and what are 250 euros in yen?",
                   "Which planet has the most moons right now?", "How tall is the Eiffel Tower in feet?"]

# --------------------------------------------------------------------------------------------------------
CODE = [
    ("python", "def merge_intervals(intervals):\n    intervals.sort()\n    out = [intervals[0]]\n    for s, e in intervals[1:]:\n        if s <= out[-1][1]:\n            out[-1][1] = max(out[-1][1], e)\n        else:\n            out.append([s, e])\n    return out"),
    ("typescript", "export async function fetchUser(id: string): Promise<User> {\n  const res = await fetch(`/api/users/${id}`);\n  if (!res.ok) throw new Error(`HTTP ${res.status}`);\n  return res.json();\n}"),
    ("go", "func (s *Server) handle(w http.ResponseWriter, r *http.Request) {\n\tctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)\n\tdefer cancel()\n\tv, err := s.store.Get(ctx, r.URL.Query().Get(\"key\"))\n\tif err != nil {\n\t\thttp.Error(w, err.Error(), 500)\n\t\treturn\n\t}\n\tfmt.Fprint(w, v)\n}"),
    ("sql", "SELECT c.name, SUM(o.total) AS revenue\nFROM customers c\nLEFT JOIN orders o ON o.customer_id = c.id\nWHERE o.created_at >= '2024-01-01'\nGROUP BY c.name\nORDER BY revenue DESC;"),
    ("rust", "fn parse_port(s: &str) -> Result<u16, String> {\n    let n: u32 = s.trim().parse().map_err(|e| format!(\"bad port: {e}\"))?;\n    if n > 65535 {\n        return Err(\"port out of range\".into());\n    }\n    Ok(n as u16)\n}"),
    ("java", "public class Counter {\n    private int count = 0;\n    public void increment() {\n        count++;\n    }\n    public int get() {\n        return count;\n    }\n}"),
    ("python", "import pandas as pd\n\ndf = pd.read_csv('sales.csv')\ndf['month'] = pd.to_datetime(df['date']).dt.to_period('M')\nmonthly = df.groupby('month')['amount'].sum()\nprint(monthly.tail())"),
    ("javascript", "app.get('/items/:id', async (req, res) => {\n  const item = await db.items.findOne({ id: req.params.id });\n  res.json(item);\n});"),
    ("bash", "#!/usr/bin/env bash\nset -euo pipefail\nfor f in logs/*.log; do\n  gzip -9 \"$f\"\ndone\necho \"done\""),
    ("diff", "diff --git a/src/cache.py b/src/cache.py\n--- a/src/cache.py\n+++ b/src/cache.py\n@@ -12,7 +12,7 @@ class Cache:\n     def get(self, key):\n-        return self._data[key]\n+        return self._data.get(key)\n"),
    ("cpp", "#include <vector>\nint sum(const std::vector<int>& v) {\n    int s = 0;\n    for (size_t i = 0; i <= v.size(); ++i) s += v[i];\n    return s;\n}"),
    ("kotlin", "fun main() {\n    val names = listOf(\"Ada\", \"Linus\", \"Grace\")\n    val lengths = names.associateWith { it.length }\n    println(lengths)\n}"),
]
CODE_Q = ["Why does this crash on an empty list?", "Can you add proper error handling here?", "How would I unit-test this?", "Is there a bug in this?",
          "Make this faster, please.", "What does this do?", "Can you rewrite this in a more idiomatic way?", "Why do I get an off-by-one error?",
          "Please add type hints and a docstring.", "Explain this line by line.", "Convert this to Python.", "Is this thread-safe?"]
TRACEBACKS = [
    "Traceback (most recent call last):\n  File \"app.py\", line 42, in <module>\n    main()\n  File \"app.py\", line 37, in main\n    total = sum(prices) / len(prices)\nZeroDivisionError: division by zero",
    "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"name\" is null\n\tat com.acme.UserService.validate(UserService.java:58)\n\tat com.acme.UserController.create(UserController.java:31)",
    "2024-05-02T10:14:07Z ERROR db pool exhausted (max=20, waiting=143)\n2024-05-02T10:14:07Z WARN request /checkout took 5012ms\n2024-05-02T10:14:08Z ERROR db pool exhausted (max=20, waiting=151)",
    "npm ERR! code ERESOLVE\nnpm ERR! ERESOLVE unable to resolve dependency tree\nnpm ERR! Found: react@18.2.0\nnpm ERR! Could not resolve dependency: peer react@\"^17.0.0\" from legacy-modal@2.1.4",
]

TOOL_SETS = [
    ([{"type": "function", "function": {"name": "get_order", "description": "Look up an order by id", "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}},
      {"type": "function", "function": {"name": "start_return", "description": "Start a return for an order line", "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}, "line": {"type": "integer"}}, "required": ["order_id", "line"]}}}],
     "get_order", {"order_id": "A-55821"}, '{"order_id": "A-55821", "status": "shipped", "carrier": "DHL", "eta": "2024-06-14", "lines": [{"sku": "TENT-2P", "qty": 1}]}',
     "Where is my order A-55821?"),
    ([{"type": "function", "function": {"name": "search_kb", "description": "Search the knowledge base", "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "top_k": {"type": "integer"}}, "required": ["query"]}}}],
     "search_kb", {"query": "reset two-factor authentication", "top_k": 3}, '[{"title": "Resetting 2FA", "url": "https://help.example.com/2fa", "snippet": "Admins can reset 2FA for a member from Settings > Members."}]',
     "I lost my phone, how do I get back into my account with 2FA on?"),
    ([{"type": "function", "function": {"name": "run_sql", "description": "Run a read-only SQL query", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}],
     "run_sql", {"query": "SELECT region, COUNT(*) FROM tickets WHERE status = 'open' GROUP BY region"}, "region | count\n-------+------\nEMEA   |   41\nAPAC   |   17\nAMER   |   63",
     "How many open tickets do we have per region?"),
    ([{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}],
     "get_weather", {"city": "Osaka", "unit": "c"}, '{"city": "Osaka", "temp": 27, "condition": "humid, light rain", "wind_kmh": 12}',
     "Do I need an umbrella in Osaka today?"),
    ([{"type": "function", "function": {"name": "read_file", "description": "Read a file from the repository", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
      {"type": "function", "function": {"name": "run_tests", "description": "Run the test suite", "parameters": {"type": "object", "properties": {"target": {"type": "string"}}}}}],
     "run_tests", {"target": "tests/test_cache.py"}, "============ test session starts ============\ncollected 12 items\n\ntests/test_cache.py ..........FF\n\nFAILED tests/test_cache.py::test_evict_lru - AssertionError: 3 != 2\n======= 2 failed, 10 passed in 0.41s =======",
     "The cache tests are failing since my last change, can you look?"),
    ([{"type": "function", "function": {"name": "get_patient_labs", "description": "Latest lab results for a patient", "parameters": {"type": "object", "properties": {"mrn": {"type": "string"}, "panel": {"type": "string"}}, "required": ["mrn"]}}}],
     "get_patient_labs", {"mrn": "00482913", "panel": "renal"}, '{"creatinine_mg_dl": 1.9, "egfr": 34, "potassium": 5.1, "collected": "2024-03-02T07:40"}',
     "Can this patient stay on full-dose metformin?"),
]

ANSWERS = ["Sure, here's a short overview. The main difference is when you pay tax: with one you pay now, with the other when you withdraw.",
           "You can fix this by escaping the braces: write {{ and }} inside the f-string.",
           "Here is a version with error handling:\n\n```python\ntry:\n    data = load()\nexcept OSError as e:\n    log.error(\"load failed: %s\", e)\n    raise\n```",
           "I checked the order: it shipped yesterday with DHL and should arrive on Friday.",
           "Based on the handbook, you accrue 1.75 days per month, so 21 days in a full year."]

FOLLOWUPS = ["Thanks! And what if I change my mind after a week?", "ok, can you make it shorter?", "Great, and how do I test that?", "Perfect. One more thing: does this apply to contractors too?",
             "What about the second case?", "Can you give me a source for that?"]

EXHIBIT_HEADERS = ["EXHIBIT {n}", "Exhibit {n} — {title}", "SCHEDULE {n}", "Annex {n}: {title}", "Appendix {n} ({title})", "ATTACHMENT {n}"]
SECTION_HEADERS = ["Section {a}.{b} {title}.", "§ {a}.{b} {title}", "Clause {a}.{b} ({title})", "ARTICLE {a} — {title}", "{a}.{b} {title}."]
INTROS = ["Here's the relevant part of the contract:", "I found this in our knowledge base:", "My doctor gave me this leaflet:", "This is from the docs:",
          "Pasting the transcript below.", "Context from my notes:", "Our lawyer sent this over:", "See below.", "FYI, the policy says:", "Copying the article here:"]

# --------------------------------------------------------------------------------------------------------
# The `fresh` split: material written after the rules had been tuned on dev and fixed once after a first look
# at held-out; scored once, at the end. Its pools are separate (nothing is shared with dev or held-out).
FRESH = {}
FRESH['UNFILLED'] = [
    "You are the returns assistant for {{ store_name }}. The customer bought {{ item }} on {{ purchase_date }}. Explain the return options that apply to {{ item_category }} items.",
    "Context: you are helping %CUSTOMER% with the %PRODUCT% subscription. Be brief and friendly. If %CUSTOMER% asks about invoices, point to %BILLING_URL%.",
    "Your name is [[bot_name]]. You answer HR questions for employees of [[company]] in [[country]]. Always link the relevant policy from [[policy_portal]].",
    "You are an interview coach. Candidate: <candidate_name>. Role applied for: <job_title>. Seniority: <level>. Ask one question at a time and give feedback after each answer.",
    "Write release notes for version ${VERSION} of ${PRODUCT_NAME}. Audience: ${AUDIENCE}. Group the changes under Added, Changed and Fixed.",
    "SYSTEM\nYou are {agent_name}, a claims assistant for {insurer}.\nPolicy holder: {holder_name}\nPolicy number: {policy_no}\nOnly discuss claims under this policy.",
    "{% set tone = 'formal' if user.age > 60 else 'casual' %}You are a banking assistant. Use a {{ tone }} tone with {{ user.name }}.\n{% if user.flags.vulnerable %}Offer to connect them with a specialist.{% endif %}",
    "You summarise support tickets for <<TEAM_NAME>>. Include the ticket id <<TICKET_ID>>, the product area <<AREA>> and the customer's sentiment.",
]
FRESH['SYSTEMS'] = [
    "You are Juniper, a meal-planning assistant. Suggest recipes that use what the user already has, and mention allergens explicitly.",
    "You are a code assistant inside an IDE. Answer with the smallest change that works. Never rewrite whole files unless asked.",
    "<role>Customer support for Tidewater Telecom</role>\n<rules>\n- Never reveal internal ticket notes.\n- Offer a callback if the issue takes more than two replies.\n</rules>",
    "You are a careful legal research assistant for in-house counsel. Quote statutes exactly and give the pinpoint citation, e.g. (Art. 6(1)(f)). If a question is outside EU law, say so.",
    "Output format: {\"summary\": string, \"risk\": \"low\" | \"medium\" | \"high\"}. No prose outside the JSON object.",
    "You are a friendly museum guide for the Harbour Maritime Museum. Keep answers short and suitable for children aged 8-12. Opening hours are 10:00-17:00, closed on Mondays.",
]
FRESH['QUESTIONS'] = [
    "What's a good way to store fresh basil?",
    "How do I undo the last git commit but keep my changes?",
    "Can you recommend a strategy game for two players?",
    "Why is the sky blue at noon and red at sunset?",
    "Is {} a valid JSON document?",
    "How do I convert 350 F to Celsius?",
    "What does 'net 30' mean on an invoice?",
    "My dog ate a grape. Should I be worried?",
    "¿Cuál es la diferencia entre 'por' y 'para'?",
    "Write a limerick about a cat who learns to code.",
]
FRESH['DOCS'] = [
    ("Telecom FAQ: Roaming charges (tidewater.example/faq/roaming, 2024)",
     "Roaming in EU countries is included in all plans at no extra cost. Outside the EU, data is charged at 5 per MB unless you add a Travel Pass, which gives 1 GB per day for a flat daily fee. Calls to your home country while abroad are charged at the local rate of the visited network."),
    ("Employee benefits guide 2025, section 3.2 (Health insurance)",
     "Employees are enrolled in the group health plan from their first day. Dependants can be added within 30 days of a qualifying life event such as marriage or the birth of a child. The company pays 80% of the premium for the employee and 50% for each dependant; the remainder is deducted from monthly pay."),
    ("Lab manual, Experiment 4: Titration (Chemistry 101, p. 22)",
     "Rinse the burette with the titrant before filling it, then record the initial volume to two decimal places. Add the titrant slowly while swirling the flask until the indicator shows a faint pink colour that persists for thirty seconds. Repeat the titration until two results agree within 0.10 mL."),
    ("Customer chat transcript, ticket #55120 (2025-01-14)",
     "Customer: Hi, my router keeps dropping the connection every evening.\nAgent: Sorry to hear that. Which model do you have?\nCustomer: It's the TW-400.\nAgent: Thanks. There is a firmware update from last week that fixes evening drops on the TW-400.\nCustomer: How do I install it?\nAgent: I can push it remotely now; the router will restart once."),
    ("Supply Agreement between Kestrel Foods and Alder Logistics, clause 11 (Force majeure)",
     "Neither party shall be liable for any failure or delay in performance caused by events beyond its reasonable control, including flood, fire, epidemic, strike or governmental action, provided that the affected party notifies the other party within five (5) business days and uses reasonable efforts to mitigate the effects."),
    ("Discharge summary, Ward 7B (2025-02-03)",
     "Diagnosis: community-acquired pneumonia. Treated with intravenous amoxicillin for three days, then oral therapy. Oxygen weaned on day two. Discharged on oral amoxicillin 500 mg three times daily to complete seven days in total. GP to review in one week; return to hospital if breathing worsens or fever recurs."),
    ("Museum catalogue entry — 'The Harbour at Dawn' (oil on canvas, 1884)",
     "Painted from the old customs pier, the work shows the fishing fleet leaving at first light. The artist used a limited palette of ochre, grey and a single blue, which gives the harbour its cold early-morning tone. The painting was donated to the museum by the artist's granddaughter in 1952."),
    ("Court of Appeal judgment, Reyes v. Harrow Estates (2021), paragraphs 14-16",
     "The landlord argued that the notice was served when it was posted. We do not accept that argument. The lease requires notice to be delivered by hand or by recorded delivery, and ordinary post is neither. The notice was therefore not validly served, and the break clause was not exercised."),
    ("Podcast transcript — 'Build Notes' episode 42",
     "Host: Welcome back. Today we're talking about flaky tests.\nGuest: Thanks for having me. Most flaky tests I see come from shared state between tests.\nHost: What's the first thing you check?\nGuest: Whether the test passes when it runs alone. If it does, something else is leaking state into it."),
    ("Internal memo from the CFO to all budget holders, 2025-03-01",
     "Dear colleagues,\n\nFrom April, all purchases above 10,000 require a second approval in the procurement system. This applies to software subscriptions as well as hardware. Requests already approved before April keep their approval.\n\nThank you,\nIngrid"),
]
FRESH['QFOR'] = {
    FRESH['DOCS'][0][0]: "How much would I pay for data in the US without a Travel Pass?",
    FRESH['DOCS'][1][0]: "Can I add my newborn to the health plan, and how much of the premium is covered?",
    FRESH['DOCS'][2][0]: "When do I stop adding titrant?",
    FRESH['DOCS'][3][0]: "What fixed the connection drops?",
    FRESH['DOCS'][4][0]: "Does a strike count, and what do we have to do to rely on this clause?",
    FRESH['DOCS'][5][0]: "How long should the patient keep taking amoxicillin?",
    FRESH['DOCS'][6][0]: "Who donated the painting?",
    FRESH['DOCS'][7][0]: "Was the break clause exercised?",
    FRESH['DOCS'][8][0]: "What's the first thing to check with a flaky test?",
    FRESH['DOCS'][9][0]: "Do I need a second approval for an 8,000 software subscription?",
}
FRESH['FILLED'] = [
    ("rag-with-rules", [('T', "You answer questions for Tidewater Telecom customers. Rules: use only the sources, answer in at most two sentences, and end with the source title in brackets.\n\nSources:\n"), ('D', None), ('T', "\n\nCustomer asks: "), ('Q', None)], 'source', "RAG template with rules"),
    ("email-triage", [('T', "Triage the following e-mail. Return one of: URGENT, NORMAL, SPAM, followed by a one-line reason.\n\n=== EMAIL START ===\n"), ('V', None), ('T', "\n=== EMAIL END ===\nTriage:")], None, "triage template with delimiters"),
    ("compare-docs", [('T', "Compare the two documents below and list every point where they disagree. If they agree on everything, say \"No differences\".\n\n"), ('D', None), ('T', "\n\nDifferences:")], 'numbered', "comparison template"),
    ("chain-of-thought-qa", [('T', "Read the passage and answer the question. Think step by step, then give the final answer on its own line starting with 'Final:'.\n\nPassage: "), ('D', None), ('T', "\nQuestion: "), ('Q', None), ('T', "\nReasoning:")], 'plain', "chain-of-thought QA template"),
]
FRESH['VALUES'] = [
    "Congratulations! You have been selected for a free cruise. Click here to claim before midnight.",
    "Hi, the production database is refusing connections since 09:12 and checkout is down. Please call me. - Omar",
    "Reminder: the quarterly all-hands is on Thursday at 15:00 in the main hall.",
    "Hello, could you resend last month's invoice? The PDF link has expired. Thanks, Mei",
    "The new office coffee machine takes oat milk now, enjoy!",
]
FRESH['REACT_QUESTIONS'] = ["How many seconds are in a leap year?", "What is the tallest building in Europe and how tall is it in metres?", "What is 17% of the population of Iceland?"]
FRESH['CODE'] = [
    ("python", "class LRU:\n    def __init__(self, n):\n        self.n, self.d = n, {}\n    def get(self, k):\n        v = self.d.pop(k)\n        self.d[k] = v\n        return v"),
    ("javascript", "const debounce = (fn, ms) => {\n  let t;\n  return (...args) => {\n    clearTimeout(t);\n    t = setTimeout(() => fn(...args), ms);\n  };\n};"),
    ("sql", "UPDATE accounts\nSET balance = balance - 100\nWHERE id = 42;\nINSERT INTO ledger (account_id, amount) VALUES (42, -100);"),
    ("csharp", "public static int Fib(int n)\n{\n    if (n < 2) return n;\n    return Fib(n - 1) + Fib(n - 2);\n}"),
]
FRESH['CODE_Q'] = ["Why is this so slow for n = 40?", "What happens if the key is missing?", "Should this run in a transaction?", "How do I cancel a pending call?"]
FRESH['TRACEBACKS'] = [
    "Traceback (most recent call last):\n  File \"etl.py\", line 88, in load\n    df = pd.read_parquet(path)\nFileNotFoundError: [Errno 2] No such file or directory: 'data/2025-03.parquet'",
    "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space\n\tat java.util.Arrays.copyOf(Arrays.java:3236)\n\tat com.acme.Importer.readAll(Importer.java:112)",
]
FRESH['TOOL_SETS'] = [
    ([{"type": "function", "function": {"name": "book_table", "description": "Book a restaurant table", "parameters": {"type": "object", "properties": {"restaurant": {"type": "string"}, "time": {"type": "string"}, "people": {"type": "integer"}}, "required": ["restaurant", "time", "people"]}}}],
     "book_table", {"restaurant": "Kestrel Bistro", "time": "2025-03-14T19:30", "people": 4}, '{"status": "confirmed", "reference": "KB-20931", "table": 12}',
     "Book a table for four at Kestrel Bistro on Friday at 7:30pm."),
    ([{"type": "function", "function": {"name": "get_invoice", "description": "Fetch an invoice", "parameters": {"type": "object", "properties": {"invoice_id": {"type": "string"}}, "required": ["invoice_id"]}}}],
     "get_invoice", {"invoice_id": "INV-2025-0311"}, "Invoice INV-2025-0311\nIssued: 2025-03-01\nAmount due: 1,240.00 EUR\nStatus: unpaid (due 2025-03-31)",
     "Is invoice INV-2025-0311 paid yet?"),
]
FRESH['ANSWERS'] = ["Sure! Basil keeps best like cut flowers: stems in a glass of water, on the counter, not in the fridge.",
                    "You can run `git reset --soft HEAD~1`; your changes stay staged.", "I booked it: reference KB-20931, table 12."]
FRESH['FOLLOWUPS'] = ["And if I already pushed it?", "Can you make it vegetarian?", "What time does it close?"]
FRESH['INTROS'] = ["Pasting the clause from the contract:", "Here is what the FAQ says.", "Copied from the judgment:", "This is the discharge letter:"]
FRESH['HEADERS'] = ["EXHIBIT {n} — {title}", "Clause {a}.{b} {title}", "SCHEDULE {n}", "Section {a}.{b} ({title})"]
FRESH['SYS_TPLS'] = [
    ("Account context\nCustomer: {name}\nPlan: {plan}\nOpen tickets: {tickets}\nPreferred language: {lang}\nUse this context when you answer. Do not read it out to the customer.",
     dict(name=['Felix Larsen', 'Nadia Ortega', 'Kwame Osei'], plan=['Family', 'Solo', 'Business 20'], tickets=['2', '0', '5'], lang=['Danish', 'Spanish', 'English'])),
    ("You are helping {name} plan a trip to {city} from {start} to {end}. Their budget is {budget} and they prefer {style} travel. Suggest day-by-day plans.",
     dict(name=['Aiko', 'Marcus', 'Lucia'], city=['Lisbon', 'Kyoto', 'Toronto'], start=['May 2', 'June 10', 'August 1'], end=['May 6', 'June 17', 'August 4'], budget=['1,200 EUR', '300,000 JPY', '900 CAD'], style=['slow', 'active', 'budget'])),
]
FRESH['DOMAIN_Q'] = ["Is a force majeure clause enforceable if the supplier was already late?", "What does 'break clause' mean in a lease?",
                     "Can amoxicillin cause a rash?", "How long do I have to add my baby to my health insurance?"]
FRESH['OTHER'] = ["===", "<|endoftext|>", "\U0001F64F"]

LEGAL_DOCS = [d for d in DOCS if any(w in d[0] for w in ('clause', 'Clause', 'Exhibit', 'Deposition', 'Section', 'Article', 'opinion', 'agreement'))]
ALL_HEADERS = EXHIBIT_HEADERS + SECTION_HEADERS
DOMAIN_Q = ["Is 'best efforts' stronger than 'reasonable efforts' in a contract?", "What does Section 230 actually protect?",
            "My landlord says clause 9 makes me pay for the boiler. Is that normal?", "Can my employer read my work email under GDPR?",
            "What does 'indemnify and hold harmless' mean in plain English?", "Is an eGFR of 34 bad?",
            "What is the usual notice period for terminating a lease in the UK?", "Should I take amoxicillin with food?"]
OTHER_TEXTS = ["---", "<|im_end|>", "\U0001F44D\U0001F44D", "* * *", "aGVsbG8gd29ybGQsIHRoaXMgaXMgYSBiYXNlNjQgYmxvYiBvZiBieXRlcw==", "</s>"]
MULTILINE_DOCS = [d for d in DOCS if '\n' in d[1]]
FRESH['QPOOL'] = list(FRESH['QFOR'].values()) + FRESH['QUESTIONS'][:3]
FRESH['LEGAL_DOCS'] = [FRESH['DOCS'][4], FRESH['DOCS'][7]]
FRESH['MULTILINE_DOCS'] = [d for d in FRESH['DOCS'] if '\n' in d[1]]
_FRESH_OF = {id(v): k for k, v in dict(UNFILLED=UNFILLED, SYSTEMS=SYSTEMS, QUESTIONS=QUESTIONS, DOCS=DOCS, FILLED=FILLED, VALUES=VALUES,
             REACT_QUESTIONS=REACT_QUESTIONS, CODE=CODE, CODE_Q=CODE_Q, TRACEBACKS=TRACEBACKS, TOOL_SETS=TOOL_SETS, ANSWERS=ANSWERS,
             FOLLOWUPS=FOLLOWUPS, INTROS=INTROS, HEADERS=ALL_HEADERS, DOMAIN_Q=DOMAIN_Q, OTHER=OTHER_TEXTS, QPOOL=QPOOL,
             LEGAL_DOCS=LEGAL_DOCS, MULTILINE_DOCS=MULTILINE_DOCS).items()}
QFOR = {h: q for (h, _), q in zip(DOCS, DOC_QUESTIONS)} | FRESH['QFOR']

# --------------------------------------------------------------------------------------------------------
class Builder:
    def __init__(self, split):
        self.split, self.items, self.rng = split, [], random.Random(f"segment-eval/{split}")
    def pick(self, pool): return self.rng.choice(half(pool, self.split))
    def sample(self, pool, k): return self.rng.sample(half(pool, self.split), k)
    def add(self, style, messages, labels, note, tools=None, group=None):
        req = {"model": "gpt-4o-mini", "messages": messages}
        if tools: req["tools"] = tools
        assert len(labels) == len(messages)
        it = {"id": f"{self.split[0]}{len(self.items) + 1:03d}", "split": self.split, "style": style, "request": req, "labels": labels, "note": note}
        if group: it["group"] = group
        self.items.append(it)

def doc_block(b:Builder, style:str, k:int):
    return render_docs(style, b.sample(DOCS, k))

def build(split:str)->list[dict]:
    b = Builder(split); r = b.rng
    sysmsg = lambda: {"role": "system", "content": b.pick(SYSTEMS)}
    # 1. unfilled templates as system messages, then a question
    for tpl in half(UNFILLED, split):
        b.add("unfilled-template-system", [{"role": r.choice(["system", "system", "developer"]), "content": tpl}, {"role": "user", "content": b.pick(QUESTIONS)}],
              [["template"], ["user"]], "prompt template with unfilled placeholders sent as the system message")
    # 1b. unfilled templates pasted by a user asking about them
    for tpl in b.sample(UNFILLED, 5):
        ask = r.choice(["Can you improve this prompt template?", "Here is my prompt template. Why does the model ignore the tone setting?",
                        "Please review the template below and suggest missing variables.", "Is this template too long?"])
        b.add("unfilled-template-user", [sysmsg(), {"role": "user", "content": f"{ask}\n\n{tpl}"}], [["system"], ["user", "template"]], "user pastes an unfilled template under a question")
    # 2. plain system prompts (no template) with questions; some multi-turn
    for s in half(SYSTEMS, split):
        msgs, labels = [{"role": "system", "content": s}, {"role": "user", "content": b.pick(QUESTIONS)}], [["system"], ["user"]]
        if r.random() < 0.5:
            msgs += [{"role": "assistant", "content": b.pick(ANSWERS)}, {"role": "user", "content": b.pick(FOLLOWUPS)}]; labels += [["assistant"], ["user"]]
        b.add("plain-chat", msgs, labels, "system prompt with braces, tags, links or brackets that are not placeholders")
    for q in b.sample(QUESTIONS, 8):
        b.add("plain-question", [{"role": "user", "content": q}], [["user"]], "a question alone (braces, %s, [URGENT], <template>, non-English)")
    # 3. filled templates: groups of three instances of the same template
    for name, pieces, dstyle, note in half(FILLED, split):
        seen = set()
        for _ in range(3):
            text = None
            while text is None or text in seen:   # instances differ in their values
                text, labels = '', []
                for kind, t in pieces:
                    if kind == 'T': text += t; lab = 'template'
                    elif kind == 'D': text += render_docs(dstyle, b.sample(DOCS, r.randint(1, 3)) if dstyle != 'plain' or r.random() < .5 else b.sample(DOCS, 1)); lab = 'retrieved_context'
                    elif kind == 'Q': text += b.pick(REACT_QUESTIONS if name == 'react-agent' else QPOOL); lab = 'user'
                    else: text += b.pick(VALUES); lab = 'user'
                    if not labels or labels[-1] != lab: labels.append(lab)
            seen.add(text)
            where = r.random()
            if where < 0.6: msgs, labs = [sysmsg(), {"role": "user", "content": text}], [["system"], labels]
            else: msgs, labs = [{"role": "user", "content": text}], [labels]
            b.add(f"filled-template:{name}", msgs, labs, note, group=f"{split}/{name}")
    # 4. RAG: documents under source/citation headers in the user message, no CONTEXT: label
    for style in ['numbered', 'source', 'markdown', 'dashes', 'passage', 'title', 'cite', 'doc_id', 'xml', 'numbered', 'source', 'markdown']:
        for _ in range(2):
            docs = b.sample(DOCS, r.randint(1, 3))
            q = QFOR[docs[0][0]]
            block = render_docs(style, docs)
            shape = r.random()
            if shape < 0.45: text, lab = f"{block}\n\n{q}", ["retrieved_context", "user"]
            elif shape < 0.7: text, lab = f"{b.pick(INTROS)}\n\n{block}\n\n{q}", ["user", "retrieved_context", "user"]
            elif shape < 0.85: text, lab = f"{q}\n\n{block}", ["user", "retrieved_context"]
            else: text, lab = (f"<context>\n{block}\n</context>\n\n<question>{q}</question>", ["retrieved_context", "user"])
            msgs, labs = [sysmsg(), {"role": "user", "content": text}], [["system"], lab]
            b.add(f"rag-user:{style}", msgs, labs, "retrieved passages pasted under source or citation headers")
    # 4b. documents placed in the system message
    for _ in range(6):
        docs = b.sample(DOCS, r.randint(1, 2)); style = r.choice(['numbered', 'source', 'markdown', 'xml', 'passage'])
        text = f"{b.pick(SYSTEMS)}\n\nReference material:\n\n{render_docs(style, docs)}"
        b.add(f"rag-system:{style}", [{"role": "system", "content": text}, {"role": "user", "content": QFOR[docs[0][0]]}],
              [["system", "retrieved_context"], ["user"]], "documents appended to the system prompt")
    # 5. legal: exhibits, clauses, sections pasted by the user
    for i in range(9):
        h, body = b.pick(LEGAL_DOCS); q = QFOR[h]
        head = r.choice(half(ALL_HEADERS, split)).format(n=r.choice(['A', 'B', 'C', '4', '12', 'II']), title=h.split(',')[0].split('(')[0][:40].strip(), a=r.randint(2, 14), b=r.randint(1, 9))
        shape = r.random()
        if shape < 0.4: text, lab = f"{head}\n{body}\n\n{q}", ["retrieved_context", "user"]
        elif shape < 0.75: text, lab = f"{b.pick(INTROS)}\n\n{head}\n{body}\n\n{q}", ["user", "retrieved_context", "user"]
        else: text, lab = f"\"{body}\"\n\n{q}", ["retrieved_context", "user"]
        b.add("legal-exhibit", [sysmsg(), {"role": "user", "content": text}], [["system"], lab], "legal exhibit / clause / transcript with a header, quoted or introduced")
    # 5b. user questions that mention legal or clinical terms but paste nothing
    for q in half(DOMAIN_Q, split):
        b.add("domain-question", [sysmsg(), {"role": "user", "content": q}], [["system"], ["user"]], "a short domain question that mentions a clause or a term")
    # 6. code assistants
    for lang, code in half(CODE, split) * 2:
        q = b.pick(CODE_Q); shape = r.random()
        if shape < 0.35: text, lab = f"{q}\n\n```{lang}\n{code}\n```", ["user", "code"]
        elif shape < 0.6: text, lab = f"{code}\n\n{q}", ["code", "user"]
        elif shape < 0.8: text, lab = f"File: src/{lang}/main.{lang[:2]}\n```\n{code}\n```\n{q}", ["user", "code", "user"]
        else: text, lab = f"<file path=\"src/main.{lang[:2]}\">\n{code}\n</file>\n\n{q}", ["code", "user"]
        b.add("code-assistant", [sysmsg(), {"role": "user", "content": text}], [["system"], lab], "code with a question (fenced, unfenced, file tags)")
    for tb in half(TRACEBACKS, split):
        b.add("error-paste", [{"role": "user", "content": f"I get this error:\n\n{tb}\n\nWhat am I doing wrong?"}], [["user", "retrieved_context", "user"]], "pasted error output / logs")
    for text in half(OTHER_TEXTS, split):
        b.add("other", [sysmsg(), {"role": "user", "content": b.pick(QUESTIONS)}, {"role": "assistant", "content": b.pick(ANSWERS)}, {"role": "user", "content": text}],
              [["system"], ["user"], ["assistant"], ["other"]], "separator, boilerplate, emoji or blob")
    # 7. tool-calling agents (OpenAI format)
    for tools, name, args, result, ask in half(TOOL_SETS, split):
        msgs = [sysmsg(), {"role": "user", "content": ask},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": result}]
        b.add("openai-tool-calls", msgs, [["system"], ["user"], ["assistant"], ["tool_output"]], "tool call and tool result", tools=tools)
        msgs2 = msgs + [{"role": "assistant", "content": "Here is what I found: " + result[:60] + "..."}, {"role": "user", "content": b.pick(FOLLOWUPS)}]
        b.add("openai-tool-calls", msgs2, [["system"], ["user"], ["assistant"], ["tool_output"], ["assistant"], ["user"]], "tool loop with a follow-up", tools=tools)
    # 8. filled system-prompt templates: the same instruction text with different values, three requests each
    sys_tpls = [("You are a support agent for {co}. The customer is {name} on the {plan} plan. Their account was created on {date}. Be friendly and concise, and never promise refunds.",
                 dict(co=['Lumen Bank', 'Northwind Outdoor', 'Harbor Billing'], name=['Sofia Rossi', 'Kenji Sato', 'Amara Mensah'], plan=['Pro', 'Free', 'Business'], date=['2021-04-02', '2023-11-19', '2019-08-30'])),
                ("Tutor profile\nStudent: {name}\nGrade: {grade}\nSubject: {subject}\nLearning goals for this session: {goal}\nExplain step by step and ask one check question at the end of every answer.",
                 dict(name=['Noah', 'Leila', 'Oscar'], grade=['7', '9', '11'], subject=['algebra', 'chemistry', 'world history'], goal=['solve linear equations', 'balance redox reactions', 'explain the causes of WWI'])),
                ("You are writing on behalf of {name}, a {role} at {co}. Match their writing style: {style}. Sign every e-mail with '{name}'.",
                 dict(name=['Priya Chandra', 'Tobias Keller', 'Grace Mbeki'], role=['product manager', 'sales director', 'recruiter'], co=['Cobalt Analytics', 'Redwood Foods', 'Stonegate Media'], style=['short and direct', 'warm and formal', 'upbeat'])),
                ("Patient context for the assistant: {age}-year-old {sex}, allergies: {allergy}. Current medications: {meds}. Answer the clinician's questions using this context; do not make diagnoses.",
                 dict(age=['54', '71', '38'], sex=['female', 'male', 'female'], allergy=['penicillin', 'none known', 'sulfonamides'], meds=['metformin 500 mg BID', 'warfarin 5 mg daily', 'levothyroxine 75 mcg']))]
    for tpl, vals in (FRESH['SYS_TPLS'] if split == 'fresh' else half(sys_tpls, split)):
        for k in range(3):
            text = tpl.format(**{key: v[k] for key, v in vals.items()})
            b.add("filled-template-system", [{"role": "system", "content": text}, {"role": "user", "content": b.pick(QUESTIONS)}], [["template"], ["user"]],
                  "system prompt built from one template with per-user values", group=f"{split}/sys-{tpl[:12]}")
    # 9. pasted transcripts and e-mails with no header at all, quoted or as a block
    for h, body in half(MULTILINE_DOCS, split):
        q = QFOR[h]
        text = r.choice([f"{body}\n\n{q}", "> " + body.replace('\n', '\n> ') + f"\n\n{q}"])
        b.add("pasted-transcript", [sysmsg(), {"role": "user", "content": text}], [["system"], ["retrieved_context", "user"]], "transcript or e-mail pasted without a header")
    return b.items

def main():
    items = build('dev') + build('heldout') + build('fresh')
    with OUT.open('w', encoding='utf-8') as f:
        for it in items: f.write(json.dumps(it, ensure_ascii=False) + '\n')
    n_units = sum(len(l) for it in items for l in it['labels'])
    print(f"{len(items)} requests, {n_units} scored units -> {OUT.name}")

if __name__ == '__main__': main()
