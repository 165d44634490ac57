#!/usr/bin/env python3
"""Writes tests/golden/tokenizer/corpus.json: the texts whose token ids the golden tests compare
with HF tokenizers and the npm tokenizer. Deterministic; run again after editing the lists.

usage: python3 tools/tokenizer/make_corpus.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "tests", "golden", "tokenizer", "corpus.json")

ASCII = [
    "Hello", "Hello!", "Hello, world!", "hello world", "HELLO WORLD", "Hello\n", "Hi there.",
    "The quick brown fox jumps over the lazy dog.",
    "A man, a plan, a canal: Panama!",
    "What's the capital of France? It's Paris.",
    "e-mail: someone@example.com, web: https://example.com/path?q=1&r=two#frag",
    "Price: $19.99 (20% off) -> now $15.99!!!",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
    "a", "I", " ", "  ", ".", "...", "?!", "--", "__init__", "#include", "@@", "~~~", "`code`",
]
WHITESPACE = [
    "a  b", "a   b", "a    b", "a\tb", "a\t\tb", "a \t b", "line1\nline2", "line1\n\nline2",
    "line1\n\n\n\nline2", "trailing ", "trailing   ", "   leading", "\n", "\n\n", "\n\n\n", " \n",
    "\n ", " \n ", "\r\n", "a\r\nb", "a\r\n\r\nb", "\t", "\t\t\t", "\t\n\t", "x \n\n  y",
    "end with newline\n", "  indented\n    more\n\tTab", "     ", "word \t\n\r word",
    "trailing spaces   \nnext line", "a\u00a0b", "a\u3000b", "a\u2028b", "a\u0085b", "a\u200bb",
    "\ufeffbom at start", "a\u2003b\u2009c", "\u00a0\u00a0leading nbsp",
    # U+0085 is whitespace to HF (Oniguruma) but not to JavaScript; U+FEFF the other way round.
    "x\u0085\u0085hello", "\u0085\u0085\u0085", "end\u0085", "a \u0085\u0085 b",
    "\ufeff\ufeffhello", "x\ufeff\ufeff y", "x  \u0085a", "x  \ufeffa", "if  \u0085\u0085ok", "\u3000\u3000hello", "\u00a0\u00a0\u00a0x",
]
DIGITS = [
    "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678901234567890",
    "3.14159265358979", "1,000,000", "0x1F2E3D", "v2.0.1", "2024-01-01T12:34:56Z",
    "Call 555-0100 or +1 (800) 555-0199", "99 bottles", "-42", "1e-10", "10^6", "4/5",
    "٣٤٥ Arabic-Indic digits", "१२३ Devanagari digits", "①②③ circled", "Ⅻ roman",
    "１２３ fullwidth", "a1b2c3", "1st 2nd 3rd 4th", "100%", "3:45pm",
]
CONTRACTIONS = [
    "don't", "DON'T", "Don't", "I'm", "I'M", "it's", "IT'S", "It'S", "we'll", "WE'LL", "they'd",
    "THEY'D", "you're", "YOU'RE", "You'Re", "we've", "WE'VE", "'s", "'S", "'t", "'tis",
    "O'Neil", "rock'n'roll", "the dog's bone", "THE DOG'S BONE", "it’s (curly)", "Jess'", "'quoted'",
    "ain't", "y'all'd've", "can't won't shouldn't", "'ll'd'm're've",
]
SCRIPTS = [
    "日本語", "你好，世界！", "我爱自然语言处理。", "日本語のテキストを処理します。",
    "カタカナとひらがな", "한국어 텍스트입니다", "안녕하세요", "繁體中文與简体中文",
    "Привет, мир!", "Съешь же ещё этих мягких французских булок",
    "Γειά σου Κόσμε", "مرحبا بالعالم", "السلام عليكم ورحمة الله", "שלום עולם",
    "नमस्ते दुनिया", "हिन्दी में लिखा गया वाक्य", "สวัสดีชาวโลก", "ภาษาไทยไม่มีช่องว่าง",
    "Tiếng Việt có dấu", "Türkçe ğüşıöç İI", "Ελληνικά και English mixed",
    "ქართული", "Հայերեն", "አማርኛ", "தமிழ்", "বাংলা", "ਪੰਜਾਬੀ", "ᚠᚢᚦᚨᚱᚲ runes",
    "𝕳𝖊𝖑𝖑𝖔 math bold", "𠀀𠀁 CJK extension B", "ﷺ ligature",
]
EMOJI = [
    "😀", "😀😃😄", "Hi 👋", "👍🏽", "👍🏻👍🏼👍🏽👍🏾👍🏿", "👨‍👩‍👧‍👦", "👩‍💻 coding", "🏳️‍🌈",
    "🇺🇸🇯🇵🇫🇷", "1️⃣2️⃣", "❤️", "❤", "🧑🏾‍🚀", "👨🏻‍🤝‍👨🏿", "🫠🪿", "emoji at end 🎉",
    "🎉start", "mixed😀text😃here", "⚠️ warning", "✅ done ❌ failed", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland",
]
COMBINING = [
    "e\u0301", "cafe\u0301", "café", "n\u0303", "a\u0308o\u0308u\u0308", "Z\u0364\u0324\u033a",
    "Zalgo: Z̴̡̢̛͖̞̠̓̈́͌a̸̧͎̝̅̎l̶̨̛̰̈g̷̱̈́o̵̥̍", "Vie\u0302\u0323t", "\u0301 leading combining",
    "क्षत्रिय", "ไม้เอก่", "각", "\u1100\u1161\u11a8 jamo",
]
CODE = [
    "def add(a, b):\n    return a + b\n",
    "for i in range(10):\n\tprint(i ** 2)\n",
    "class Foo:\n    def __init__(self):\n        self.x = {'a': [1, 2, 3]}\n",
    "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)  # comment\n",
    "#include <vector>\nint main() {\n  std::vector<int> v{1, 2, 3};\n  return v.size();\n}\n",
    "template <typename T>\nT max(T a, T b) { return a > b ? a : b; }",
    "if (x != nullptr && *x >= 0) { x->y += 1; } // done",
    "for (int i = 0; i < n; ++i) { s += a[i]; }\n",
    "{\"key\": \"value\", \"list\": [1, 2.5, true, null], \"nested\": {\"a\": {}}}",
    "{\n  \"name\": \"kiln\",\n  \"version\": \"0.1.0\"\n}\n",
    "<html><body><div class=\"x\">Hi</div></body></html>",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "$ ls -la | grep '^d' && echo \"done\" > /dev/null 2>&1",
    "const f = async (x) => { await g(x?.y ?? 0); };",
    "fn main() { let v: Vec<u8> = vec![0; 16]; println!(\"{:?}\", v); }",
    "regex: ^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@\\w+\\.\\w{2,}$",
    "x = 1\r\ny = 2\r\n",
    "    four spaces\n        eight spaces\n",
    "```python\nprint('hi')\n```",
    "// TODO(user): fix\n/* block\n   comment */",
    "a<b>c<<d>>e</f>",
    "<|im_start|>user\nhi<|im_end|>",
]
SPECIAL = [
    "<｜begin▁of▁sentence｜><｜User｜>Hello!<｜Assistant｜><think>\n",
    "<｜User｜>hi<｜Assistant｜><think>\n",
    "<｜begin▁of▁sentence｜>You are helpful.<｜User｜>What is 2+2?<｜Assistant｜><think>\nEasy.\n</think>\n\n4<｜end▁of▁sentence｜>",
    "</think>\n\nThe answer is 42.", "<think></think>", "<think>\n\n</think>\n\n", "<think><think>",
    "<<think>>", "<think", "think>", "<｜User", "｜User｜>", "<｜User｜", "x<｜User｜>y",
    "<｜end▁of▁sentence｜><｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<|eot_id|>", "<|eom_id|>",
    "<|python_tag|>", "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
    "<|reserved_special_token_5|>", "<|reserved_special_token_247|>",
    "<|reserved_special_token_248|>", "<|finetune_right_pad_id|>",
    "text <think> spaced </think> text", "a<think>b</think>c",
    "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
    "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>{\"temp\": 21}<｜tool▁output▁end｜><｜tool▁outputs▁end｜>",
    "<tool_call>{\"name\": \"f\"}</tool_call>", "[TOOL_CALLS] [{\"name\": \"f\"}]",
]
ODD = [
    "\ufffd", "\ufffd\ufffd replacement", "\u0000", "nul\u0000inside", "\u0001\u0002\u001f\u007f",
    "\u0080\u009f C1 controls", "\ue000 private use", "\U0010fffd plane 16", "\uffff\ufffe",
    "\u202eright-to-left override", "\u200d lone ZWJ", "\u200c ZWNJ", "\u00ad soft hyphen",
    "Ａｌｌ ｆｕｌｌｗｉｄｔｈ", "ｶﾀｶﾅ halfwidth", "ﬁ ligature", "Å Å Å (three forms)",
    "¡¿ inverted", "«guillemets» „quotes“ ‘single’", "— en – dash ‑ nb hyphen", "…", "©®™",
    "∑∫∂√∞ ≤≥≠", "₿€£¥₹", "½¼¾", "x²y³", "°C", "µs", "\\n literal backslash n", "\\\\",
    "a\\tb", "'''", "\"\"\"", "''", "' '", "'s's's", "....'s", "!!!'", "?'",
]
LONG = [
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco "
    "laboris nisi ut aliquip ex ea commodo consequat.",
    "Antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis "
    "supercalifragilisticexpialidocious",
    "a" * 300, "ab" * 150, " " * 100, "\n" * 50, "=" * 80, "1" * 100, "😀" * 20, "日本" * 50,
    "xyzzy" * 40 + " plugh",
    "In 1492, Columbus sailed the ocean blue. In 1969, Apollo 11 landed on the Moon; "
    "Neil Armstrong's first words were: \"That's one small step for [a] man, one giant leap "
    "for mankind.\"",
    "Ceci est une phrase en français, avec des accents : é, è, ê, à, ç, ô, ù, ï. "
    "Und das ist ein deutscher Satz mit Umlauten: äöüß ÄÖÜ.",
]


def combinations():
    """Pairs of short fragments joined by separators: exercises the split at their border."""
    parts = ["Hello", "123", "'s", "日本", "😀", " ", "\n", "\t", "<think>", "<｜User｜>", "é", "!?",
             "x", "  ", "\r\n"]
    out = []
    for i, a in enumerate(parts):
        for j, b in enumerate(parts):
            if (i * 7 + j * 3) % 4 == 0:
                out.append(a + b)
                out.append(a + " " + b)
    return out


def main():
    corpus = []
    for group in (ASCII, WHITESPACE, DIGITS, CONTRACTIONS, SCRIPTS, EMOJI, COMBINING, CODE,
                  SPECIAL, ODD, LONG):
        corpus.extend(group)
    corpus.extend(combinations())
    seen = set()
    unique = []
    for text in corpus:
        if text not in seen:
            seen.add(text)
            unique.append(text)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(unique, f, ensure_ascii=True, indent=0)
        f.write("\n")
    print(f"make_corpus: wrote {len(unique)} texts to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
