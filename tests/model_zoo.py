"""A zoo of tiny models, one per family people shortlist, laid out file for file like their Hub repos.

Tokenizers are trained offline on the synthetic ticket corpus: WordPiece vocabularies (vocab.txt)
for BERT, DistilBERT, ELECTRA and MPNet, byte-level BPE (vocab.json + merges.txt) for RoBERTa,
Longformer, BART and GPT-2, SentencePiece models for DeBERTa-v3 (spm.model), XLM-RoBERTa
(sentencepiece.bpe.model) and ALBERT (spiece.model), and a tokenizer.json alone for ModernBERT.
Only the files the real repos carry are written: a DeBERTa-v3 folder has spm.model and no
tokenizer.json, exactly the case a hand-kept download list used to miss. Weights are random and
tiny (hidden size 32, two layers): the zoo tests loading and agreement with transformers'
pipelines, not accuracy.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tests import tiny_models

LABELS = sorted(tiny_models.KEYWORDS)
NLI_LABELS = ["contradiction", "neutral", "entailment"]
MAX_TOKENS = 64
SIZE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
LONG_WORDS = 90  # words in a long row: more tokens than MAX_TOKENS in every family


@dataclass(frozen=True)
class Family:
    """A zoo model: how to build it, what `auto` must pick, and what its repo holds."""

    name: str
    build: Callable[[Path], Path]
    kind: str
    vocabulary: tuple[str, ...]  # the tokenizer files the folder must keep (besides tokenizer_config.json)
    multi_label: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


def corpus() -> list[str]:
    texts = [text for text, _ in tiny_models.synthetic_rows(n_per_label=40, seed=7)]
    words = tiny_models.FILLER + tiny_models.HYPOTHESIS_WORDS + [w for ws in tiny_models.KEYWORDS.values() for w in ws]
    return texts + [" ".join(words + ["example", "this", "is", "bug", "feature_request", "general_inquiry"])] * 5


def sample_rows(*, multi_label: bool = False, seed: int = 0) -> list[tuple[str, str]]:
    """24 short tickets and two long ones (truncated by every zoo model)."""
    rows = tiny_models.synthetic_rows(n_per_label=8, seed=seed)
    rng = random.Random(seed)
    words = tiny_models.FILLER + tiny_models.KEYWORDS["bug"]
    rows += [(" ".join(rng.choice(words) for _ in range(LONG_WORDS)), "bug") for _ in range(2)]
    if multi_label:
        rows = [(text, "bug;general_inquiry" if i % 3 == 0 else label) for i, (text, label) in enumerate(rows)]
    return rows


# --------------------------------------------------------------------------- tokenizer files


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def write_wordpiece(folder: Path, specials: list[str], *, last: list[str] = ()) -> None:
    """vocab.txt with whole corpus words (valid WordPiece: every word is one piece)."""
    words = [w for w in tiny_models.build_vocab(corpus()) if w not in tiny_models.SPECIAL_TOKENS]
    letters = sorted({c for w in words for c in w} | {f"##{c}" for w in words for c in w})
    tokens = list(dict.fromkeys(specials + words + letters + list(last)))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")


def write_byte_level_bpe(folder: Path, specials: list[str]) -> None:
    """vocab.json + merges.txt, trained like GPT-2's and RoBERTa's."""
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(corpus(), vocab_size=400, min_frequency=1, special_tokens=specials, show_progress=False)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_model(str(folder))


def write_sentencepiece(path: Path, *, model_type: str = "unigram", **ids) -> None:
    """A SentencePiece model file trained on the corpus, with the family's special pieces and ids."""
    import sentencepiece

    buffer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_writer=buffer, vocab_size=120, model_type=model_type,
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2, **ids,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def write_fast_tokenizer_json(folder: Path) -> None:
    """tokenizer.json alone (ModernBERT's layout): byte-level BPE with [CLS] ... [SEP] added."""
    from tokenizers import ByteLevelBPETokenizer, processors

    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(corpus(), vocab_size=400, min_frequency=1, special_tokens=specials, show_progress=False)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))


# --------------------------------------------------------------------------- models


def finish(folder: Path, config_class, model_class, tokenizer_config: dict, *, tokenizer_json: bool = False,
           seed: int = 0, **config) -> Path:
    """Write tokenizer_config.json, load the tokenizer as AutoTokenizer would, then save a model sized to it."""
    from transformers import AutoTokenizer

    write_json(folder / "tokenizer_config.json", tokenizer_config)
    config_class(vocab_size=8, **config).save_pretrained(folder)  # lets AutoTokenizer read the model type
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.unk_token_id is None or tokenizer.unk_token_id not in tokenizer(corpus()[0])["input_ids"], \
        f"{folder.name}: the trained vocabulary does not cover the corpus"
    torch.manual_seed(seed)
    model = model_class(config_class(vocab_size=len(tokenizer), **config)).eval()
    widen_head_margins(model, config.get("num_labels"))
    model.save_pretrained(folder, safe_serialization=True)
    if tokenizer_json:
        tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    return folder


#: Random heads give near-equal scores, so labels would flip on float rounding; scaled output
#: layers give rows clear winners that a comparison with the pipeline can check label for label.
HEAD_SCALE = 30.0


def widen_head_margins(model: torch.nn.Module, num_labels: int | None) -> None:
    if not num_labels:
        return
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module.out_features == num_labels:
                module.weight.mul_(HEAD_SCALE)


def head(labels: list[str], **extra) -> dict:
    return dict(num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)}, **extra)


def bert_config(**overrides) -> dict:
    return dict(**SIZE, max_position_embeddings=MAX_TOKENS, pad_token_id=0, **overrides)


def roberta_config(**overrides) -> dict:
    """RoBERTa-style position ids start after the padding id: 2 more slots than tokens."""
    return dict(**SIZE, max_position_embeddings=MAX_TOKENS + 2, pad_token_id=1, bos_token_id=0, eos_token_id=2, **overrides)


def build_bert(folder: Path) -> Path:
    from transformers import BertConfig, BertForSequenceClassification

    write_wordpiece(folder, tiny_models.SPECIAL_TOKENS)
    tokenizer_config = {"do_lower_case": True, "model_max_length": MAX_TOKENS}
    return finish(folder, BertConfig, BertForSequenceClassification, tokenizer_config, tokenizer_json=True, **bert_config(**head(LABELS)))


def build_bert_multi_label(folder: Path) -> Path:
    from transformers import BertConfig, BertForSequenceClassification

    write_wordpiece(folder, tiny_models.SPECIAL_TOKENS)
    tokenizer_config = {"do_lower_case": True, "model_max_length": MAX_TOKENS}
    config = bert_config(**head(LABELS, problem_type="multi_label_classification"))
    return finish(folder, BertConfig, BertForSequenceClassification, tokenizer_config, seed=3, **config)


def build_bert_unbounded(folder: Path) -> Path:
    """A tokenizer_config without model_max_length: transformers reports 1e30 and the pipeline does not truncate."""
    from transformers import BertConfig, BertForSequenceClassification

    write_wordpiece(folder, tiny_models.SPECIAL_TOKENS)
    return finish(folder, BertConfig, BertForSequenceClassification, {"do_lower_case": True}, seed=4, **bert_config(**head(LABELS)))


def build_distilbert(folder: Path) -> Path:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    write_wordpiece(folder, tiny_models.SPECIAL_TOKENS)
    config = dict(dim=32, n_layers=2, n_heads=2, hidden_dim=37, max_position_embeddings=MAX_TOKENS, pad_token_id=0, **head(LABELS))
    return finish(folder, DistilBertConfig, DistilBertForSequenceClassification, {"do_lower_case": True, "model_max_length": MAX_TOKENS}, **config)


def build_electra(folder: Path) -> Path:
    from transformers import ElectraConfig, ElectraForSequenceClassification

    write_wordpiece(folder, tiny_models.SPECIAL_TOKENS)
    config = bert_config(embedding_size=16, **head(LABELS))
    return finish(folder, ElectraConfig, ElectraForSequenceClassification, {"do_lower_case": True, "model_max_length": MAX_TOKENS}, **config)


def build_roberta(folder: Path, *, tokenizer_json: bool = True) -> Path:
    from transformers import RobertaConfig, RobertaForSequenceClassification

    write_byte_level_bpe(folder, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tokenizer_config = {"model_max_length": MAX_TOKENS}
    return finish(folder, RobertaConfig, RobertaForSequenceClassification, tokenizer_config, tokenizer_json=tokenizer_json,
                  seed=1, **roberta_config(**head(LABELS)))


def build_roberta_slow_files(folder: Path) -> Path:
    return build_roberta(folder, tokenizer_json=False)


def build_longformer(folder: Path) -> Path:
    from transformers import LongformerConfig, LongformerForSequenceClassification

    write_byte_level_bpe(folder, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    config = roberta_config(attention_window=[8, 8], sep_token_id=2, **head(LABELS))
    return finish(folder, LongformerConfig, LongformerForSequenceClassification, {"model_max_length": MAX_TOKENS}, seed=2, **config)


def build_bart_nli(folder: Path) -> Path:
    from transformers import BartConfig, BartForSequenceClassification

    write_byte_level_bpe(folder, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    config = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                  encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=MAX_TOKENS, pad_token_id=1, bos_token_id=0,
                  eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2, **head(NLI_LABELS))
    return finish(folder, BartConfig, BartForSequenceClassification, {"model_max_length": MAX_TOKENS}, seed=5, **config)


def build_bart_summarizer(folder: Path) -> Path:
    """A random BART with its generation head: a seq2seq 'summarizer' that writes some tokens."""
    from transformers import BartConfig, BartForConditionalGeneration

    write_byte_level_bpe(folder, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    config = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                  encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=MAX_TOKENS, pad_token_id=1, bos_token_id=0,
                  eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=None)
    finish(folder, BartConfig, BartForConditionalGeneration, {"model_max_length": MAX_TOKENS}, seed=21, **config)
    return write_words_not_specials(folder, BartForConditionalGeneration, special_ids=[0, 1, 2, 3])


def build_t5_summarizer(folder: Path) -> Path:
    """A random T5 (SentencePiece spiece.model, 'summarize: ' prefix in its config)."""
    from transformers import T5Config, T5ForConditionalGeneration

    write_sentencepiece(folder / "spiece.model", pad_id=0, pad_piece="<pad>", eos_id=1, eos_piece="</s>", unk_id=2,
                        unk_piece="<unk>", bos_id=-1)
    config = dict(d_model=32, d_kv=16, d_ff=37, num_layers=1, num_decoder_layers=1, num_heads=2, pad_token_id=0,
                  eos_token_id=1, decoder_start_token_id=0, prefix="summarize: ")
    finish(folder, T5Config, T5ForConditionalGeneration, {"model_max_length": MAX_TOKENS, "extra_ids": 0}, seed=22, **config)
    return write_words_not_specials(folder, T5ForConditionalGeneration, special_ids=[0, 1, 2])


def write_words_not_specials(folder: Path, model_class, *, special_ids: list[int]) -> Path:
    """A random generator mostly writes its special tokens (an empty summary): push their logits far
    down, so greedy decoding writes words until the cap on new tokens."""
    model = model_class.from_pretrained(folder)
    with torch.no_grad():
        if hasattr(model, "final_logits_bias"):  # BART: a bias on every logit
            model.final_logits_bias[:, special_ids] = -1e4
        else:  # T5 ties its head to the embeddings: untie it, then zero the special rows (others win the argmax)
            head = model.get_output_embeddings()
            head.weight = torch.nn.Parameter(head.weight.detach().clone())
            model.config.tie_word_embeddings = False
            head.weight[special_ids] = 0.0
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def build_gpt2(folder: Path) -> Path:
    """GPT-2 defines no padding token: batches are padded with its end-of-text token."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    write_byte_level_bpe(folder, ["<|endoftext|>"])
    config = dict(n_embd=32, n_layer=2, n_head=2, n_positions=MAX_TOKENS, bos_token_id=0, eos_token_id=0, **head(LABELS))
    return finish(folder, GPT2Config, GPT2ForSequenceClassification, {"model_max_length": MAX_TOKENS}, seed=6, **config)


def deberta_v3_config(**overrides) -> dict:
    return dict(**SIZE, max_position_embeddings=MAX_TOKENS, pad_token_id=0, relative_attention=True, position_buckets=32,
                pos_att_type=["p2c", "c2p"], position_biased_input=False, initializer_range=0.3, **overrides)


def write_deberta_spm(folder: Path) -> None:
    write_sentencepiece(folder / "spm.model", pad_id=0, pad_piece="[PAD]", bos_id=1, bos_piece="[CLS]", eos_id=2,
                        eos_piece="[SEP]", unk_id=3, unk_piece="[UNK]", user_defined_symbols=["[MASK]"])


def build_deberta_v3(folder: Path) -> Path:
    """spm.model and no tokenizer.json, as microsoft/deberta-v3-* ship it."""
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    write_deberta_spm(folder)
    tokenizer_config = {"do_lower_case": False, "vocab_type": "spm", "model_max_length": MAX_TOKENS}
    return finish(folder, DebertaV2Config, DebertaV2ForSequenceClassification, tokenizer_config, seed=7, **deberta_v3_config(**head(LABELS)))


def build_deberta_nli(folder: Path) -> Path:
    """Two NLI labels (entailment / not_entailment), as the popular DeBERTa zero-shot models have."""
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    write_deberta_spm(folder)
    tokenizer_config = {"do_lower_case": False, "vocab_type": "spm", "model_max_length": MAX_TOKENS}
    config = deberta_v3_config(**head(["entailment", "not_entailment"]))
    return finish(folder, DebertaV2Config, DebertaV2ForSequenceClassification, tokenizer_config, seed=8, **config)


def build_xlm_roberta(folder: Path) -> Path:
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    write_sentencepiece(folder / "sentencepiece.bpe.model", model_type="bpe")
    return finish(folder, XLMRobertaConfig, XLMRobertaForSequenceClassification, {"model_max_length": MAX_TOKENS}, seed=9,
                  **roberta_config(**head(LABELS)))


def build_albert(folder: Path) -> Path:
    from transformers import AlbertConfig, AlbertForSequenceClassification

    write_sentencepiece(folder / "spiece.model", pad_id=0, pad_piece="<pad>", unk_id=1, unk_piece="<unk>", bos_id=2,
                        bos_piece="[CLS]", eos_id=3, eos_piece="[SEP]", user_defined_symbols=["[MASK]"])
    config = dict(embedding_size=16, **SIZE, max_position_embeddings=MAX_TOKENS, pad_token_id=0, **head(LABELS))
    tokenizer_config = {"do_lower_case": True, "keep_accents": False, "model_max_length": MAX_TOKENS}
    return finish(folder, AlbertConfig, AlbertForSequenceClassification, tokenizer_config, seed=10, **config)


def build_modernbert(folder: Path) -> Path:
    from transformers import ModernBertConfig, ModernBertForSequenceClassification

    write_fast_tokenizer_json(folder)
    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAX_TOKENS, "cls_token": "[CLS]",
                        "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]", "mask_token": "[MASK]"}
    config = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  max_position_embeddings=MAX_TOKENS, pad_token_id=3, cls_token_id=1, sep_token_id=2, bos_token_id=1,
                  eos_token_id=2, **head(LABELS))
    return finish(folder, ModernBertConfig, ModernBertForSequenceClassification, tokenizer_config, seed=11, **config)


def write_sentence_transformers(folder: Path, *, pooling: str, normalize: bool) -> None:
    """modules.json and 1_Pooling/config.json as sentence-transformers saves them."""
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    write_json(folder / "modules.json", modules)
    modes = {f"pooling_mode_{m}": m == pooling for m in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")}
    write_json(folder / "1_Pooling" / "config.json", {"word_embedding_dimension": 32, **modes})
    write_json(folder / "sentence_bert_config.json", {"max_seq_length": MAX_TOKENS, "do_lower_case": False})


def build_mpnet_encoder(folder: Path) -> Path:
    """A sentence-transformers MPNet (mean pooling, normalized), like all-mpnet-base-v2."""
    from transformers import MPNetConfig, MPNetModel

    write_wordpiece(folder, ["<s>", "<pad>", "</s>", "<unk>"], last=["<mask>"])
    tokenizer_config = {"tokenizer_class": "MPNetTokenizer", "do_lower_case": True, "model_max_length": MAX_TOKENS}
    finish(folder, MPNetConfig, MPNetModel, tokenizer_config, seed=12, **roberta_config())
    write_sentence_transformers(folder, pooling="mean_tokens", normalize=True)
    return folder


def build_bge_encoder(folder: Path) -> Path:
    """A BGE/E5-style BERT encoder: CLS pooling, normalized."""
    from transformers import BertConfig, BertModel

    write_wordpiece(folder, tiny_models.SPECIAL_TOKENS)
    finish(folder, BertConfig, BertModel, {"do_lower_case": True, "model_max_length": MAX_TOKENS}, tokenizer_json=True, seed=13,
           **bert_config())
    write_sentence_transformers(folder, pooling="cls_token", normalize=True)
    return folder


TC, ZS, PROBE = "text-classification", "zero-shot-classification", "embedding-probe"
FAMILIES = [
    Family("bert", build_bert, TC, ("vocab.txt", "tokenizer.json")),
    Family("distilbert", build_distilbert, TC, ("vocab.txt",)),
    Family("roberta", build_roberta, TC, ("vocab.json", "merges.txt", "tokenizer.json")),
    Family("roberta-slow-files", build_roberta_slow_files, TC, ("vocab.json", "merges.txt")),
    Family("deberta-v3", build_deberta_v3, TC, ("spm.model",)),
    Family("xlm-roberta", build_xlm_roberta, TC, ("sentencepiece.bpe.model",)),
    Family("albert", build_albert, TC, ("spiece.model",)),
    Family("electra", build_electra, TC, ("vocab.txt",)),
    Family("mpnet-sentence-transformers", build_mpnet_encoder, PROBE, ("vocab.txt",)),
    Family("bge-cls-pooling", build_bge_encoder, PROBE, ("vocab.txt", "tokenizer.json")),
    Family("modernbert", build_modernbert, TC, ("tokenizer.json",)),
    Family("longformer", build_longformer, TC, ("vocab.json", "merges.txt")),
    Family("bart-nli", build_bart_nli, ZS, ("vocab.json", "merges.txt")),
    Family("deberta-nli-2-labels", build_deberta_nli, ZS, ("spm.model",)),
    Family("gpt2-no-pad", build_gpt2, TC, ("vocab.json", "merges.txt")),
    Family("multi-label", build_bert_multi_label, TC, ("vocab.txt",), multi_label=True),
    Family("unbounded-max-length", build_bert_unbounded, TC, ("vocab.txt",)),
]
