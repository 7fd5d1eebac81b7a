import assert from "node:assert/strict";
import { InputError } from "../../model/errors.ts";
import {
  formatUnit,
  fromMessages,
  looksLikeDialogue,
  parseDialogue,
  splitSentences,
  unitsOf,
} from "../../model/text.ts";

const SPLITS: [string, string, string[]][] = [
  ["titles and decimals", "Dr. Smith paid $3.50 for it. Mrs. Jones paid 1,000.75 euros.", [
    "Dr. Smith paid $3.50 for it.",
    "Mrs. Jones paid 1,000.75 euros.",
  ]],
  ["runs of ! and ?", "Really?! Yes!!! Are you sure??", ["Really?!", "Yes!!!", "Are you sure??"]],
  ["chat in lower case", "i'm home. what's up? nothing much", [
    "i'm home.",
    "what's up?",
    "nothing much",
  ]],
  ["ellipsis before a capital ends, before lower case goes on", "Well... I don't know... maybe.", [
    "Well...",
    "I don't know... maybe.",
  ]],
  ["unicode ellipsis", "Wait… Okay… fine… whatever.", ["Wait…", "Okay… fine… whatever."]],
  ["quotes close the sentence", 'He said "Stop." Then he left.', [
    'He said "Stop."',
    "Then he left.",
  ]],
  ["speech attribution after ? in quotes goes on", '"Are you coming?" she asked. "Yes."', [
    '"Are you coming?" she asked.',
    '"Yes."',
  ]],
  ["URLs and e-mail addresses", "See https://example.org/a.b?x=1. Or mail jo.doe@ex.co.uk. Bye.", [
    "See https://example.org/a.b?x=1.",
    "Or mail jo.doe@ex.co.uk.",
    "Bye.",
  ]],
  ["www and versions", "Get v1.2.3 from www.deno.land now. It works.", [
    "Get v1.2.3 from www.deno.land now.",
    "It works.",
  ]],
  ["initials and dotted capitals", "J. R. R. Tolkien served in the U.S. Army? No.", [
    "J. R. R. Tolkien served in the U.S. Army?",
    "No.",
  ]],
  ["OK is a word, not an initial", "OK. See you at 5 p.m. today. Bye", [
    "OK.",
    "See you at 5 p.m. today.",
    "Bye",
  ]],
  ["No. before a number", "Room No. 5 is free. No. It is not.", [
    "Room No. 5 is free.",
    "No.",
    "It is not.",
  ]],
  ["etc. before a capital ends, e.g. never", "Apples, pears, etc. Then e.g. plums.", [
    "Apples, pears, etc.",
    "Then e.g. plums.",
  ]],
  ["closing brackets", "It is cheap (about 3 euros.) We buy it.", [
    "It is cheap (about 3 euros.)",
    "We buy it.",
  ]],
  ["line breaks in chat end sentences", "hi\nhow are you\n\nfine thanks", [
    "hi",
    "how are you",
    "fine thanks",
  ]],
  [
    "hard-wrapped prose is joined",
    "This paragraph was wrapped by an editor at a fixed width so\nthat it continues here. Next.",
    [
      "This paragraph was wrapped by an editor at a fixed width so that it continues here.",
      "Next.",
    ],
  ],
  ["emoji and no final punctuation", "great news 🎉🎉 see you tomorrow :)", [
    "great news 🎉🎉 see you tomorrow :)",
  ]],
  ["whitespace only", " \n\t ", []],
];

for (const [name, text, expected] of SPLITS) {
  Deno.test(`splitSentences: ${name}`, () => assert.deepEqual(splitSentences(text), expected));
}

Deno.test("parseDialogue: names, multi-line messages, empty turns, times in text", () => {
  const text = "Ann: hi there\nBob Jr: hello\nhow are you?\nAnn:\nCarl: 10:30 works: see you\n\n";
  assert.deepEqual(parseDialogue(text), [
    { speaker: "Ann", text: "hi there" },
    { speaker: "Bob Jr", text: "hello\nhow are you?" },
    { speaker: "Carl", text: "10:30 works: see you" },
  ]);
});

Deno.test("parseDialogue: a leading line without a name has no speaker; CRLF is accepted", () => {
  assert.deepEqual(parseDialogue("Chat export\r\nAnn: hi\r\nBob: yo"), [
    { text: "Chat export" },
    { speaker: "Ann", text: "hi" },
    { speaker: "Bob", text: "yo" },
  ]);
});

Deno.test("looksLikeDialogue tells transcripts from prose", () => {
  assert.equal(looksLikeDialogue("Ann: hi\nBob: hello\nAnn: ok"), true);
  assert.equal(looksLikeDialogue("Note: this is prose.\nIt goes on for a while."), false);
  assert.equal(looksLikeDialogue("Ann: a single line"), false);
  assert.equal(looksLikeDialogue("10: 30 apples\n11: 40 pears"), false);
  assert.equal(
    looksLikeDialogue("Agenda\nAnn: budget\nBob: hiring\nCarl: office\nDee: misc"),
    true,
  );
  // Windows line ends: the same answers (a CRLF transcript was read as prose).
  assert.equal(looksLikeDialogue("Ann: hi\r\nBob: hello\r\nAnn: ok"), true);
  assert.equal(looksLikeDialogue("Note: this is prose.\r\nIt goes on for a while."), false);
});

Deno.test("CRLF text splits like LF text", () => {
  const lf = "First paragraph here.\nIt wraps.\n\nSecond one. Done.";
  assert.deepEqual(splitSentences(lf.replaceAll("\n", "\r\n")), splitSentences(lf));
});

Deno.test("fromMessages: {from, text} and bare strings, checked field by field", () => {
  assert.deepEqual(fromMessages([{ from: " Ann ", text: " hi " }, "plain", { text: "anon" }, ""]), [
    { speaker: "Ann", text: "hi" },
    { text: "plain" },
    { text: "anon" },
  ]);
  const bad: [unknown, string][] = [
    [{ messages: [] }, "messages must be an array"],
    [[{ from: "Ann" }], "messages[0].text must be a string"],
    [["ok", { from: 3, text: "x" }], "messages[1].from must be a string"],
    [[null], "messages[0] must be a string or {from, text}"],
    [[["nested"]], "messages[0] must be a string or {from, text}"],
  ];
  for (const [value, message] of bad) {
    assert.throws(() => fromMessages(value), (e) => {
      assert.ok(e instanceof InputError);
      assert.equal(e.code, "bad-input");
      assert.equal(e.message, message);
      return true;
    });
  }
});

Deno.test("unitsOf keeps speakers, and splits only long utterances into sentences", () => {
  const long = "First point about the budget. ".repeat(6).trim();
  const units = unitsOf(
    [{ speaker: "Ann", text: "short. two." }, { speaker: "Bob", text: long }],
    100,
  );
  assert.equal(units[0].text, "short. two.");
  assert.equal(units.length, 7);
  for (const u of units.slice(1)) {
    assert.deepEqual([u.speaker, u.utterance, u.text], ["Bob", 1, "First point about the budget."]);
  }
  assert.equal(formatUnit(units[1]), "Bob: First point about the budget.");
  assert.equal(formatUnit({ text: "no speaker" }), "no speaker");
});
