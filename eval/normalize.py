"""VQA answer normalisation (the rules of the official VQA accuracy metric).

Steps, in order:
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
