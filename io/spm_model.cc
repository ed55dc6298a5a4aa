// The C face of libsentencepiece (io/spm_model.h). Kept to the few calls the
// SigLIP tokenizer needs so that the C++ stays in this one file; no exception
// leaves it (allocation failures become CC_ERR_NOMEM).
#include "io/spm_model.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "runtime/status.h"
}

struct spm_model {
    sentencepiece::SentencePieceProcessor sp;
};

static int finish_load(spm_model *m, const sentencepiece::util::Status &st, const char *what, spm_model **out)
{
    if (!st.ok()) {
        int rc = cc_fail(CC_ERR_INVALID, "%s: not a SentencePiece model (%s)", what, st.ToString().c_str());
        delete m;
        return rc;
    }
    if (m->sp.GetPieceSize() <= 0) {
        delete m;
        return cc_fail(CC_ERR_INVALID, "%s: SentencePiece model without pieces", what);
    }
    *out = m;
    return CC_OK;
}

extern "C" int spm_model_load_file(const char *path, spm_model **out)
{
    *out = nullptr;
    spm_model *m = new (std::nothrow) spm_model;
    if (!m)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory for the SentencePiece model", path);
    try {
        return finish_load(m, m->sp.Load(path), path, out);
    } catch (const std::bad_alloc &) {
        delete m;
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory for the SentencePiece model", path);
    }
}

extern "C" int spm_model_load_proto(const void *bytes, size_t n, const char *what, spm_model **out)
{
    *out = nullptr;
    spm_model *m = new (std::nothrow) spm_model;
    if (!m)
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory for the SentencePiece model", what);
    try {
        std::string proto(static_cast<const char *>(bytes), n);
        return finish_load(m, m->sp.LoadFromSerializedProto(proto), what, out);
    } catch (const std::bad_alloc &) {
        delete m;
        return cc_fail(CC_ERR_NOMEM, "%s: out of memory for the SentencePiece model", what);
    }
}

extern "C" void spm_model_free(spm_model *m)
{
    delete m;
}

extern "C" int32_t spm_model_size(const spm_model *m) { return m->sp.GetPieceSize(); }
extern "C" int32_t spm_model_unk_id(const spm_model *m) { return m->sp.unk_id(); }
extern "C" int32_t spm_model_eos_id(const spm_model *m) { return m->sp.eos_id(); }
extern "C" int32_t spm_model_pad_id(const spm_model *m) { return m->sp.pad_id(); }

extern "C" int32_t spm_model_piece_to_id(const spm_model *m, const char *piece)
{
    try {
        return m->sp.PieceToId(piece);
    } catch (const std::bad_alloc &) {
        return m->sp.unk_id();
    }
}

static int copy_string(const std::string &s, char **out)
{
    char *c = static_cast<char *>(std::malloc(s.size() + 1));
    if (!c)
        return cc_fail(CC_ERR_NOMEM, "out of memory for a SentencePiece string of %zu bytes", s.size());
    std::memcpy(c, s.data(), s.size());
    c[s.size()] = '\0';
    *out = c;
    return CC_OK;
}

extern "C" int spm_model_id_to_piece(const spm_model *m, int32_t id, char **piece)
{
    *piece = nullptr;
    if (id < 0 || id >= m->sp.GetPieceSize())
        return cc_fail(CC_ERR_INVALID, "token id %d is outside the SentencePiece vocabulary [0, %d)", id,
                       m->sp.GetPieceSize());
    try {
        return copy_string(m->sp.IdToPiece(id), piece);
    } catch (const std::bad_alloc &) {
        return cc_fail(CC_ERR_NOMEM, "out of memory for a SentencePiece piece");
    }
}

extern "C" void spm_pieces_free(spm_pieces *p)
{
    std::free(p->buf);
    std::free(p->off);
    std::free(p->ids);
    *p = spm_pieces{};
}

extern "C" int spm_model_encode(const spm_model *m, const char *text, size_t len, spm_pieces *out)
{
    *out = spm_pieces{};
    try {
        std::vector<std::string> pieces;
        const auto st = m->sp.Encode(std::string(text, len), &pieces);
        if (!st.ok())
            return cc_fail(CC_ERR_INVALID, "SentencePiece cannot encode a text of %zu bytes (%s)", len,
                           st.ToString().c_str());
        size_t bytes = 1;
        for (const auto &p : pieces)
            bytes += p.size() + 1;
        size_t n = pieces.size();
        out->buf = static_cast<char *>(std::malloc(bytes));
        out->off = static_cast<size_t *>(std::malloc((n ? n : 1) * sizeof *out->off));
        out->ids = static_cast<int32_t *>(std::malloc((n ? n : 1) * sizeof *out->ids));
        if (!out->buf || !out->off || !out->ids) {
            spm_pieces_free(out);
            return cc_fail(CC_ERR_NOMEM, "out of memory for the pieces of a text of %zu bytes", len);
        }
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            out->off[i] = at;
            std::memcpy(out->buf + at, pieces[i].c_str(), pieces[i].size() + 1);
            at += pieces[i].size() + 1;
            out->ids[i] = m->sp.PieceToId(pieces[i]);
        }
        out->buf[at] = '\0';
        out->n = n;
        return CC_OK;
    } catch (const std::bad_alloc &) {
        spm_pieces_free(out);
        return cc_fail(CC_ERR_NOMEM, "out of memory encoding a text of %zu bytes", len);
    }
}

extern "C" int spm_model_decode(const spm_model *m, const int32_t *ids, size_t n, char **text)
{
    *text = nullptr;
    try {
        std::vector<int> v(ids, ids + n);
        for (int id : v)
            if (id < 0 || id >= m->sp.GetPieceSize())
                return cc_fail(CC_ERR_INVALID, "token id %d is outside the SentencePiece vocabulary [0, %d)", id,
                               m->sp.GetPieceSize());
        std::string s;
        const auto st = m->sp.Decode(v, &s);
        if (!st.ok())
            return cc_fail(CC_ERR_INVALID, "SentencePiece cannot decode %zu ids (%s)", n, st.ToString().c_str());
        return copy_string(s, text);
    } catch (const std::bad_alloc &) {
        return cc_fail(CC_ERR_NOMEM, "out of memory decoding %zu ids", n);
    }
}
