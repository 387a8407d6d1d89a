//! The weaknesses a coordination center names most often, with their names as the CWE
//! catalogue (version 4.17) spells them: CSAF's mandatory test 6.1.11 compares the
//! name with the catalogue, so a case's CWE is exported only when its name is known.

/// (identifier, catalogue name), sorted by number.
pub const COMMON: &[(&str, &str)] = &[
    ("CWE-20", "Improper Input Validation"),
    (
        "CWE-22",
        "Improper Limitation of a Pathname to a Restricted Directory ('Path Traversal')",
    ),
    (
        "CWE-77",
        "Improper Neutralization of Special Elements used in a Command ('Command Injection')",
    ),
    (
        "CWE-78",
        "Improper Neutralization of Special Elements used in an OS Command ('OS Command Injection')",
    ),
    (
        "CWE-79",
        "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')",
    ),
    (
        "CWE-89",
        "Improper Neutralization of Special Elements used in an SQL Command ('SQL Injection')",
    ),
    (
        "CWE-94",
        "Improper Control of Generation of Code ('Code Injection')",
    ),
    (
        "CWE-119",
        "Improper Restriction of Operations within the Bounds of a Memory Buffer",
    ),
    (
        "CWE-120",
        "Buffer Copy without Checking Size of Input ('Classic Buffer Overflow')",
    ),
    ("CWE-125", "Out-of-bounds Read"),
    ("CWE-190", "Integer Overflow or Wraparound"),
    (
        "CWE-200",
        "Exposure of Sensitive Information to an Unauthorized Actor",
    ),
    ("CWE-250", "Execution with Unnecessary Privileges"),
    ("CWE-269", "Improper Privilege Management"),
    ("CWE-276", "Incorrect Default Permissions"),
    ("CWE-287", "Improper Authentication"),
    ("CWE-295", "Improper Certificate Validation"),
    ("CWE-306", "Missing Authentication for Critical Function"),
    (
        "CWE-307",
        "Improper Restriction of Excessive Authentication Attempts",
    ),
    ("CWE-311", "Missing Encryption of Sensitive Data"),
    ("CWE-319", "Cleartext Transmission of Sensitive Information"),
    ("CWE-321", "Use of Hard-coded Cryptographic Key"),
    (
        "CWE-327",
        "Use of a Broken or Risky Cryptographic Algorithm",
    ),
    ("CWE-330", "Use of Insufficiently Random Values"),
    ("CWE-345", "Insufficient Verification of Data Authenticity"),
    ("CWE-352", "Cross-Site Request Forgery (CSRF)"),
    (
        "CWE-362",
        "Concurrent Execution using Shared Resource with Improper Synchronization ('Race Condition')",
    ),
    ("CWE-384", "Session Fixation"),
    ("CWE-400", "Uncontrolled Resource Consumption"),
    ("CWE-416", "Use After Free"),
    ("CWE-434", "Unrestricted Upload of File with Dangerous Type"),
    ("CWE-476", "NULL Pointer Dereference"),
    ("CWE-502", "Deserialization of Untrusted Data"),
    ("CWE-521", "Weak Password Requirements"),
    (
        "CWE-601",
        "URL Redirection to Untrusted Site ('Open Redirect')",
    ),
    (
        "CWE-611",
        "Improper Restriction of XML External Entity Reference",
    ),
    (
        "CWE-639",
        "Authorization Bypass Through User-Controlled Key",
    ),
    (
        "CWE-640",
        "Weak Password Recovery Mechanism for Forgotten Password",
    ),
    ("CWE-668", "Exposure of Resource to Wrong Sphere"),
    (
        "CWE-732",
        "Incorrect Permission Assignment for Critical Resource",
    ),
    ("CWE-787", "Out-of-bounds Write"),
    ("CWE-798", "Use of Hard-coded Credentials"),
    ("CWE-862", "Missing Authorization"),
    ("CWE-863", "Incorrect Authorization"),
    ("CWE-918", "Server-Side Request Forgery (SSRF)"),
    (
        "CWE-1021",
        "Improper Restriction of Rendered UI Layers or Frames",
    ),
    (
        "CWE-1236",
        "Improper Neutralization of Formula Elements in a CSV File",
    ),
    (
        "CWE-1321",
        "Improperly Controlled Modification of Object Prototype Attributes ('Prototype Pollution')",
    ),
];

/// The same weaknesses as Japanese readers know them (the team's wording, in the
/// terms JVN notes use), for pages and reports; [`COMMON`]'s catalogue names stay
/// what CSAF exports.
pub const COMMON_JA: &[(&str, &str)] = &[
    ("CWE-20", "不適切な入力確認"),
    ("CWE-22", "パス・トラバーサル"),
    ("CWE-77", "コマンドインジェクション"),
    ("CWE-78", "OS コマンドインジェクション"),
    ("CWE-79", "クロスサイトスクリプティング"),
    ("CWE-89", "SQL インジェクション"),
    ("CWE-94", "コードインジェクション"),
    ("CWE-119", "メモリバッファの範囲外操作"),
    (
        "CWE-120",
        "入力サイズを確認しないバッファコピー（古典的バッファオーバーフロー）",
    ),
    ("CWE-125", "範囲外読み取り"),
    ("CWE-190", "整数オーバーフローまたはラップアラウンド"),
    ("CWE-200", "権限のない者への機微な情報の露出"),
    ("CWE-250", "不要な特権による実行"),
    ("CWE-269", "不適切な権限管理"),
    ("CWE-276", "不適切なデフォルトのパーミッション"),
    ("CWE-287", "不適切な認証"),
    ("CWE-295", "不適切な証明書検証"),
    ("CWE-306", "重要な機能に対する認証の欠如"),
    ("CWE-307", "過度な認証試行の不適切な制限"),
    ("CWE-311", "機微なデータの暗号化の欠如"),
    ("CWE-319", "機微な情報の平文での送信"),
    ("CWE-321", "ハードコードされた暗号鍵の使用"),
    (
        "CWE-327",
        "危殆化した、またはリスクのある暗号アルゴリズムの使用",
    ),
    ("CWE-330", "十分にランダムでない値の使用"),
    ("CWE-345", "データの真正性の不十分な検証"),
    ("CWE-352", "クロスサイトリクエストフォージェリ（CSRF）"),
    (
        "CWE-362",
        "不適切な同期による共有リソースの同時実行（競合状態）",
    ),
    ("CWE-384", "セッション固定"),
    ("CWE-400", "制御されていないリソース消費"),
    ("CWE-416", "解放済みメモリの使用（Use After Free）"),
    ("CWE-434", "危険な種類のファイルの無制限なアップロード"),
    ("CWE-476", "NULL ポインタ参照"),
    ("CWE-502", "信頼できないデータのデシリアライゼーション"),
    ("CWE-521", "脆弱なパスワード要件"),
    (
        "CWE-601",
        "信頼できないサイトへのリダイレクト（オープンリダイレクト）",
    ),
    ("CWE-611", "XML 外部エンティティ参照の不適切な制限（XXE）"),
    ("CWE-639", "ユーザーが制御するキーによる認可の回避"),
    ("CWE-640", "脆弱なパスワード回復の仕組み"),
    ("CWE-668", "誤った領域へのリソースの露出"),
    (
        "CWE-732",
        "重要なリソースに対する不適切なパーミッションの割り当て",
    ),
    ("CWE-787", "範囲外書き込み"),
    ("CWE-798", "ハードコードされた認証情報の使用"),
    ("CWE-862", "認可の欠如"),
    ("CWE-863", "不適切な認可"),
    ("CWE-918", "サーバーサイドリクエストフォージェリ（SSRF）"),
    (
        "CWE-1021",
        "UI レイヤーの不適切な制限（クリックジャッキング）",
    ),
    (
        "CWE-1236",
        "CSV ファイルでの数式要素の不適切な無害化（CSV インジェクション）",
    ),
    (
        "CWE-1321",
        "オブジェクトのプロトタイプ属性の不適切な変更（プロトタイプ汚染）",
    ),
];

/// Reads `CWE-79`, `cwe-79` or `79` into the canonical `CWE-79`.
pub fn parse(text: &str) -> Option<String> {
    let t = text.trim();
    let digits = t
        .strip_prefix("CWE-")
        .or_else(|| t.strip_prefix("cwe-"))
        .unwrap_or(t);
    (!digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("CWE-{}", digits.trim_start_matches('0')))
}

/// The catalogue name of a weakness in [`COMMON`].
pub fn name(id: &str) -> Option<&'static str> {
    COMMON.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

/// The Japanese name of a weakness in [`COMMON`].
pub fn name_ja(id: &str) -> Option<&'static str> {
    COMMON_JA.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

/// The name for a reader: Japanese when `japanese`, else the catalogue's.
pub fn name_for(id: &str, japanese: bool) -> Option<&'static str> {
    if japanese {
        name_ja(id).or_else(|| name(id))
    } else {
        name(id)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_common_weakness_has_a_japanese_name() {
        let ids: Vec<&str> = super::COMMON.iter().map(|(i, _)| *i).collect();
        let ja: Vec<&str> = super::COMMON_JA.iter().map(|(i, _)| *i).collect();
        assert_eq!(ids, ja);
    }

    #[test]
    fn identifiers_are_read_in_their_usual_spellings() {
        assert_eq!(super::parse("79").as_deref(), Some("CWE-79"));
        assert_eq!(super::parse(" cwe-079 ").as_deref(), Some("CWE-79"));
        assert_eq!(super::parse("XSS"), None);
        assert_eq!(super::name("CWE-89").map(|n| n.contains("SQL")), Some(true));
    }
}
