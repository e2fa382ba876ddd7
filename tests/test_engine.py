"""The engine as a pure function: (flow, state, input) -> (state, replies)."""

from __future__ import annotations

from dataclasses import asdict, fields, replace

from bot.conversation import engine
from bot.conversation.engine import FlowState, Outcome
from bot.conversation.fields import ChoiceField, MultiChoiceField, NumberField, Option, TextField
from bot.conversation.flow import Flow, Includes, Step
from bot.conversation.model import MediaIn, PostbackIn, TextIn, UserInput
from bot.i18n import T

COLOURS = tuple(Option(f"c{i}", T(f"色{i}", f"Colour {i}")) for i in range(20))

FLOW = Flow(
    id="demo",
    version=1,
    title=T("デモ", "Demo"),
    steps=(
        Step("name", T("名前は？", "Name?"), TextField(max_len=10), T("名前", "Name")),
        Step(
            "pet",
            T("ペットは？", "Pet?"),
            ChoiceField(options=(Option("dog", T("犬", "Dog")), Option("cat", T("猫", "Cat")))),
            T("ペット", "Pet"),
        ),
        Step(
            "dog_name",
            T("犬の名前は？", "Dog's name?"),
            TextField(max_len=10),
            T("犬の名前", "Dog's name"),
        ),
        Step("age", T("年齢は？", "Age?"), NumberField(min=0, max=120), T("年齢", "Age")),
        Step(
            "colours",
            T("好きな色は？", "Colours?"),
            MultiChoiceField(options=COLOURS, min=1, max=3),
            T("色", "Colours"),
        ),
        Step(
            "note",
            T("補足は？", "Notes?"),
            TextField(max_len=50),
            T("補足", "Notes"),
            optional=True,
            when=Includes("colours", "c0"),
        ),
    ),
)


class Run:
    """Drive the engine like a conversation, keeping the state."""

    def __init__(self, locale: str = "ja") -> None:
        self.locale = locale
        out = engine.start(FLOW, locale)
        self.state: FlowState | None = out.state
        self.out = out

    def send(self, inp: UserInput) -> Outcome:
        assert self.state is not None
        self.out = engine.advance(FLOW, self.state, inp, self.locale)
        self.state = self.out.state
        return self.out

    def say(self, text: str) -> Outcome:
        return self.send(TextIn(text))

    def tap(self, label: str) -> Outcome:
        for choice in self.out.replies[-1].choices:
            if choice.label.removeprefix("✓ ") == label:
                return self.send(PostbackIn(choice.data))
        raise AssertionError(f"{label} not in {[c.label for c in self.out.replies[-1].choices]}")

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.out.replies)

    @property
    def step(self) -> str | None:
        return self.state.step if self.state else None


def answer_all(run: Run) -> None:
    run.say("Ann")
    run.tap("犬")
    run.say("Pochi")
    run.say("30")
    run.tap("色0")
    run.tap("完了 ✔")


def test_one_question_at_a_time_then_summary() -> None:
    run = Run()
    assert run.step == "name"
    answer_all(run)
    assert run.step == "note"  # the optional step applies because c0 was picked
    run.tap("スキップ")
    assert run.state is not None and run.state.phase == "confirm"
    assert "・名前: Ann" in run.text and "・補足: -" in run.text
    out = run.tap("登録する")
    assert out.completed == {
        "name": "Ann",
        "pet": "dog",
        "dog_name": "Pochi",
        "age": 30,
        "colours": ["c0"],
        "note": None,
    }
    assert out.state is None


def test_back_returns_to_the_previous_question_with_its_answer() -> None:
    run = Run()
    run.say("Ann")
    run.tap("猫")
    assert run.step == "dog_name"
    run.say("戻る")
    assert run.step == "pet"
    assert "現在の回答: 猫" in run.text
    run.tap("◀ 戻る")
    assert run.step == "name"
    run.say("back")
    assert run.step == "name"
    assert "最初の質問" in run.text
    run.tap("変更しない")
    assert run.step == "pet"


def test_cancel_discards_everything() -> None:
    run = Run()
    run.say("Ann")
    out = run.say("キャンセル")
    assert out.cancelled and out.state is None and out.completed is None
    assert "保存していません" in run.text


def test_edit_one_answer_from_the_summary() -> None:
    run = Run("en")
    run.say("Ann")
    run.tap("Dog")
    run.say("Pochi")
    run.say("30")
    run.tap("Colour 1")
    run.tap("Done ✔")
    assert run.state is not None and run.state.phase == "confirm"
    run.tap("Edit")
    assert "Which item" in run.text
    run.tap("Age")
    assert run.step == "age" and "Current answer: 30" in run.text
    run.say("31")
    assert run.state is not None and run.state.phase == "confirm"
    assert "・Age: 31" in run.text
    # Typing an item's name edits it directly.
    run.say("colours")
    run.tap("Colour 1")  # untick
    run.tap("Colour 0")
    run.tap("Done ✔")
    # c0 makes the optional note apply: it is asked before returning to the summary.
    assert run.step == "note"
    run.say("hello")
    assert run.state is not None and run.state.phase == "confirm"
    assert "・Notes: hello" in run.text


def test_dropping_a_condition_drops_the_dependent_answer() -> None:
    run = Run()
    answer_all(run)
    run.say("メモ")
    run.say("修正")
    run.tap("色")
    run.tap("色0")  # untick: the note no longer applies
    run.tap("色2")
    run.tap("完了 ✔")
    assert run.state is not None and run.state.phase == "confirm"
    assert "補足" not in run.text
    assert "note" not in run.state.answers


def test_bad_answers_get_a_polite_retry_and_stay_put() -> None:
    run = Run()
    run.say("   ")
    assert run.step == "name" and "空のメッセージ" in run.text
    run.say("x" * 11)
    assert run.step == "name" and "10文字以内" in run.text
    run.send(MediaIn("sticker"))
    assert run.step == "name" and "スタンプありがとうございます" in run.text
    run.say("Ann")
    run.say("うさぎ")
    assert run.step == "pet" and "選択肢にありません" in run.text
    run.tap("犬")
    run.say("Pochi")
    run.say("two hundred")
    assert run.step == "age" and "数字で" in run.text
    run.say("200")
    assert run.step == "age" and "0から120まで" in run.text
    run.send(MediaIn("location"))
    assert run.step == "age" and "位置情報" in run.text
    run.say("３０歳")
    assert run.step == "colours"
    run.tap("完了 ✔")
    assert run.step == "colours" and "少なくとも1つ" in run.text
    for label in ("色1", "色2", "色3"):
        run.tap(label)
    run.say("色4")
    run.tap("完了 ✔")
    assert run.step == "colours" and "3つまで" in run.text


def test_multi_choice_pages_and_typed_lists() -> None:
    run = Run("en")
    run.say("Ann")
    run.tap("Cat")
    run.say("Tom")
    run.say("5")
    labels = [c.label for c in run.out.replies[-1].choices]
    assert len(labels) == 13 and "More ▶" in labels and "Colour 19" not in labels
    run.tap("More ▶")
    labels = [c.label for c in run.out.replies[-1].choices]
    assert "Colour 19" in labels
    run.say("Colour 19, colour 18")
    assert "Selected: Colour 18, Colour 19" in run.text
    run.say("Colour 99")
    assert "not among the choices" in run.text
    run.say("done")
    assert run.state is not None and run.state.phase == "confirm"


def test_stale_button_from_an_earlier_question() -> None:
    run = Run()
    run.say("Ann")
    old_dog = next(c for c in run.out.replies[-1].choices if c.label == "犬")
    run.tap("猫")
    run.send(PostbackIn(old_dog.data))
    assert run.step == "dog_name" and "前の質問" in run.text
    run.send(PostbackIn("garbage|||"))
    assert run.step == "dog_name"


def test_resume_after_the_flow_changed_keeps_fitting_answers() -> None:
    run = Run()
    run.say("Ann")
    run.tap("犬")
    assert run.state is not None
    stored = replace(run.state, version=0, answers={**run.state.answers, "age": "old"}).to_dict()
    resumed = engine.resume(FLOW, stored)
    assert resumed.version == 1
    assert resumed.answers == {"name": "Ann", "pet": "dog"}
    assert resumed.step == "dog_name"
    assert resumed.history == ["name", "pet"]


def test_language_of_every_reply() -> None:
    run = Run("en")
    assert "Name?" in run.text
    run.say("")
    assert "That was empty" in run.text


def test_stored_state_is_plain_data_that_resumes_to_the_same_state() -> None:
    """to_dict is written by hand (speed): it must keep every field and share no list."""
    run = Run()
    run.say("Aki")
    run.tap("犬")
    run.say("Pochi")
    run.say("30")
    run.tap("色1")
    state = run.state
    assert state is not None and state.picking == ["c1"] and state.history
    stored = state.to_dict()
    assert stored == asdict(state)
    assert set(stored) == {f.name for f in fields(FlowState)}
    assert engine.resume(FLOW, stored) == state
    stored["answers"]["name"] = "changed"
    stored["history"].append("x")
    stored["picking"].append("x")
    assert state.answers["name"] == "Aki"
    assert "x" not in state.history and "x" not in state.picking


# ---------------------------------------------------------------- side flows (#12)


def test_a_side_flow_resumes_the_flow_it_interrupted_exactly_where_it_was() -> None:
    from bot.flows import side

    flow = FLOW
    main = engine.start(flow, "en").state
    assert main is not None
    main = engine.advance(flow, main, TextIn("Sakura"), "en").state
    assert main is not None and main.step != "name"
    # The side flow starts over the running flow and keeps it in its "return to" slot.
    out = engine.start(side.ANSWER_FLOW, "en", {side.QUESTION: 12}, over=main)
    assert out.state is not None and out.state.under == main.to_dict()
    assert out.replies[0].text.startswith("Type your answer")
    # Another side flow replaces it, and still returns to the main flow.
    out = engine.start(side.DELETE_FLOW, "en", over=out.state)
    assert out.state is not None and out.state.under == main.to_dict()
    # Ended (here: cancelled), it hands back the main flow's state as it was.
    done = engine.advance(side.DELETE_FLOW, out.state, TextIn("cancel"), "en")
    assert done.state is None and done.cancelled and done.resumed == main.to_dict()
    assert done.replies[0].text == "Nothing was deleted."
    # Completed, too, with its parameter among the answers.
    out = engine.start(side.ANSWER_FLOW, "en", {side.QUESTION: 12}, over=main)
    assert out.state is not None
    stored = out.state.to_dict()
    done = engine.advance(
        side.ANSWER_FLOW, engine.resume(side.ANSWER_FLOW, stored), TextIn(" hi "), "en"
    )
    assert done.completed == {side.QUESTION: 12, side.ANSWER: "hi"}
    assert done.resumed == main.to_dict()
    resumed = engine.resume(flow, done.resumed)
    assert resumed == main


def test_a_side_flow_refuses_politely_and_stays() -> None:
    from bot.flows import side

    state = engine.start(side.ANSWER_FLOW, "ja", {side.QUESTION: 1}).state
    assert state is not None
    out = engine.advance(side.ANSWER_FLOW, state, TextIn("x" * 2001), "ja")
    assert out.state == state and out.completed is None
    assert [r.text for r in out.replies] == ["2000文字以内でお願いします（いま2001文字です）。"]
    out = engine.advance(side.ANSWER_FLOW, state, MediaIn("sticker"), "ja")
    assert out.state == state and out.replies[0].text == "回答は文字で送ってください。"
    decline = engine.start(side.DECLINE_FLOW, "en", {side.MATCH: 3}).state
    assert decline is not None
    skip = engine.prompt(side.DECLINE_FLOW, decline, "en")[0].choices
    assert [(c.label, c.data) for c in skip] == [("Decline, no reason", "inv-skip")]
    out = engine.advance(side.DECLINE_FLOW, decline, PostbackIn("inv-skip"), "en")
    assert out.completed == {side.MATCH: 3, side.ANSWER: None}
    out = engine.advance(side.DECLINE_FLOW, decline, TextIn("y" * 600), "en")
    assert out.completed == {side.MATCH: 3, side.ANSWER: "y" * 500}


def test_editing_a_profile_that_lacks_a_newer_answer_asks_only_that() -> None:
    """A profile saved before a step was added: edit asks the new step, then the summary
    (it does not walk on through the answered steps after it, e.g. the consent)."""
    from bot.flows.volunteer import VOLUNTEER_FLOW

    keys = [s.key for s in VOLUNTEER_FLOW.steps]
    assert "share_contact" in keys and keys[-1] == "consent"
    answers: dict[str, object] = {}
    for step in VOLUNTEER_FLOW.steps:
        if step.key in ("share_contact", "contact") or not step.applies(answers):
            continue
        fld = step.field
        if isinstance(fld, MultiChoiceField):
            answers[step.key] = [fld.options[0].key]
        elif isinstance(fld, ChoiceField):
            answers[step.key] = fld.options[0].key
        elif isinstance(fld, NumberField):
            answers[step.key] = fld.min
        else:
            answers[step.key] = "さくら"
    out = engine.start(VOLUNTEER_FLOW, "ja", answers, at_confirm=True)
    assert out.state is not None and out.state.step == "share_contact"
    share = VOLUNTEER_FLOW.step("share_contact").field
    assert isinstance(share, ChoiceField)
    no = next(o for o in share.options if o.key != "yes")
    out = engine.advance(VOLUNTEER_FLOW, out.state, TextIn(no.label.ja), "ja")
    assert out.state is not None and out.state.phase == "confirm", out.replies[0].text
