"""Answer normalisation: the project's forgiving reading and the official VQA processing.

`normalize_answer` is the project's reading (what `--lenient` scores with). Steps, in order:
  1. lower-case, tabs/newlines to spaces, strip;
  2. commas inside numbers dropped ("1,000" -> "1000");
  3. the VQA punctuation set becomes a space; apostrophes, colons, % and the
     like are kept (the official set leaves them alone);
  4. a period survives only when a digit follows it ("3.5", ".5"); every
     other period is deleted ("u.s." -> "us", "dog." -> "dog");
  5. per word: number words zero..ten and "none" become digits, the articles
     a/an/the are dropped, apostrophe-less contractions get their apostrophe
     back ("dont" -> "don't");
  6. whitespace collapsed to single spaces.
Both the prediction and every ground-truth answer go through the same function,
so the result only has to be consistent, not pretty.

The second half of the file is the official VQA evaluation's processing
(`vqa_punctuation`, `vqa_digit_article`) and LLaVA's EvalAI answer processor
(`evalai_answer`), which the scorers use by default.
"""
import re

# The official VQA punctuation set (apostrophe, colon, %, $, #, &, * are not in it).
_SPACED_PUNCTUATION = re.compile(r"""[;/\[\]"{}()=+\\_\-><@`,?!]""")
_COMMA_IN_NUMBER = re.compile(r"(?<=\d),(?=\d)")
_PERIOD_NOT_BEFORE_DIGIT = re.compile(r"\.(?!\d)")

_NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
_ARTICLES = frozenset({"a", "an", "the"})
# Only forms that are not English words themselves (so no "its", "well", "were", "id").
_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldnt": "couldn't",
    "couldve": "could've", "didnt": "didn't", "doesnt": "doesn't", "dont": "don't",
    "hadnt": "hadn't", "hasnt": "hasn't", "havent": "haven't", "hes": "he's",
    "howd": "how'd", "howll": "how'll", "hows": "how's", "im": "i'm", "ive": "i've",
    "isnt": "isn't", "itd": "it'd", "itll": "it'll", "lets": "let's", "maam": "ma'am",
    "mightnt": "mightn't", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've",
    "neednt": "needn't", "oclock": "o'clock", "shant": "shan't", "shes": "she's",
    "shouldnt": "shouldn't", "shouldve": "should've", "somebodys": "somebody's",
    "someones": "someone's", "thats": "that's", "theres": "there's", "theyd": "they'd",
    "theyll": "they'll", "theyre": "they're", "theyve": "they've", "wasnt": "wasn't",
    "werent": "weren't", "weve": "we've", "whatre": "what're", "whats": "what's",
    "whens": "when's", "wheres": "where's", "whod": "who'd", "wholl": "who'll",
    "whos": "who's", "whove": "who've", "whys": "why's", "wont": "won't",
    "wouldnt": "wouldn't", "wouldve": "would've", "yall": "y'all", "youd": "you'd",
    "youll": "you'll", "youre": "you're", "youve": "you've",
}


def _normalize_word(word: str) -> str | None:
    """Map one word; None means the word is dropped (an article)."""
    word = _NUMBER_WORDS.get(word, word)
    if word in _ARTICLES:
        return None
    return _CONTRACTIONS.get(word, word)


def normalize_answer(text: str) -> str:
    """Normalise a free-form answer the way the VQA metric compares answers."""
    text = text.replace("\n", " ").replace("\t", " ").strip().lower()
    text = _COMMA_IN_NUMBER.sub("", text)
    text = _SPACED_PUNCTUATION.sub(" ", text)
    text = _PERIOD_NOT_BEFORE_DIGIT.sub("", text)
    words = (_normalize_word(w) for w in text.split())
    return " ".join(w for w in words if w is not None)


# ---------------------------------------------------------------------------------------------
# The official VQA evaluation's answer processing (GT-Vision-Lab/VQA, vqaEval.py, Python 3
# version), reproduced rule for rule, quirks included. `normalize_answer` above is the
# project's forgiving reading (--lenient); these functions are the default.
# ---------------------------------------------------------------------------------------------

# Its punctuation list: no ':', no "'", no '.', no '%' (a period is handled separately).
VQA_PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-",
                   ">", "<", "@", "`", ",", "?", "!")
_VQA_DIGIT_COMMA_DIGIT = re.compile(r"\d,\d")
# The official pattern opens with a malformed look-behind that constrains nothing, so any
# period not followed by a digit goes; its `re.UNICODE` lands in the `count` argument,
# which caps the deletions at 32 per answer.
_VQA_PERIOD = re.compile(r"\.(?!\d)")
_VQA_PERIOD_MAX = 32
# Its contraction table, entry for entry. The capitalised keys can never match (words are
# lower-cased first), and forms such as "im", "ive", "lets", "shes", "youd've" are absent.
VQA_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}


def vqa_punctuation(text: str) -> str:
    """The official processPunctuation.

    Each listed mark is deleted when it touches a space somewhere in the text (" ," or ", ")
    or when the text holds a digit-comma-digit anywhere; otherwise it becomes a space. Both
    tests look at the original text, not the partly processed one. Then periods not followed
    by a digit are deleted (at most 32).
    """
    out = text
    any_digit_comma = _VQA_DIGIT_COMMA_DIGIT.search(text) is not None
    for mark in VQA_PUNCTUATION:
        if any_digit_comma or mark + " " in text or " " + mark in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _VQA_PERIOD.sub("", out, count=_VQA_PERIOD_MAX)


def vqa_digit_article(text: str) -> str:
    """The official processDigitArticle: lower-case, split on whitespace, number words
    zero..ten and "none" to digits, drop a/an/the, then the contraction table per word."""
    words = [_NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in _ARTICLES]
    return " ".join(VQA_CONTRACTIONS.get(w, w) for w in words)


def vqa_whitespace(text: str) -> str:
    """What vqaEval does to every answer, human or predicted: newlines/tabs to spaces, strip."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def vqa_process(text: str) -> str:
    """processPunctuation then processDigitArticle (applied only when the humans disagree)."""
    return vqa_digit_article(vqa_punctuation(text))


def evalai_answer(text: str) -> str:
    """LLaVA's EvalAIAnswerProcessor (m4c_evaluator), used for TextVQA and the VQAv2 upload.

    It first lower-cases, deletes every ',' and '?', splits "'s" off as " 's" and strips;
    the rest is the VQA processing above (with every comma gone, its digit-comma test never
    fires, so sharing `vqa_punctuation` is exact).
    """
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    return vqa_process(vqa_whitespace(text))
