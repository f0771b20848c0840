// The server's search folding (server/normalize.py `fold`), for searching the briefcase
// offline: the briefcase carries each account's folded search key, so only the query is
// folded here. tests/test_fold_js.py checks this file against the server's cases.

(function (scope) {
  "use strict";

  const VARIANT_PAIRS =
    "髙高 﨑崎 嵜崎 碕崎 齋斎 齊斉 邊辺 邉辺 濵浜 濱浜 德徳 櫻桜 澤沢 " +
    "廣広 國国 嶋島 嶌島 眞真 龍竜 冨富 𠮷吉 藏蔵 惠恵 榮栄 曾曽 增増 " +
    "條条 淺浅 瀨瀬 圓円 槇槙 檜桧 埜野 萬万 壽寿 實実 澁渋 關関 會会 " +
    "與与 寶宝 舘館 靜静 黑黒 戶戸 來来 豐豊 傳伝 團団 驒騨 莊荘 縣県 鷗鴎";
  const VARIANTS = new Map(
    VARIANT_PAIRS.split(" ").filter(Boolean).map((pair) => [...pair]),
  );
  const COMPANY_ABBREVIATION = /\(\s*(?:株|有|合|資|名|同|医|社|財|福|学|宗|特非)\s*\)/gu;
  const COMPANY_WORDS = [
    "株式会社", "有限会社", "合同会社", "合資会社", "合名会社",
    "一般社団法人", "一般財団法人", "公益社団法人", "公益財団法人", "社団法人", "財団法人",
    "医療法人社団", "医療法人財団", "医療法人", "社会福祉法人", "特定非営利活動法人",
    "npo法人", "学校法人", "宗教法人",
    "かぶしきがいしゃ", "かぶしきかいしゃ", "ゆうげんがいしゃ", "ゆうげんかいしゃ",
    "ごうどうがいしゃ", "ごうどうかいしゃ",
  ].sort((a, b) => b.length - a.length);
  const COMPANY_WORD = new RegExp(COMPANY_WORDS.join("|"), "gu");
  const DROPPED = /[\p{Z}\p{P}\p{Cc}\p{Cf}\u2212~\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/gu;
  const MAX_PASSES = 4;

  function nfkc(text) {
    return text.replace(/\u309B/g, "\u3099").replace(/\u309C/g, "\u309A").normalize("NFKC");
  }

  function kataToHira(text) {
    return text.replace(/[\u30A1-\u30F6\u30FD\u30FE]/g, (ch) =>
      String.fromCharCode(ch.charCodeAt(0) - 0x60),
    );
  }

  function foldOnce(text) {
    text = nfkc(nfkc(text).toLowerCase()).normalize("NFKC");
    text = kataToHira(text);
    text = [...text].map((ch) => VARIANTS.get(ch) ?? ch).join("");
    text = text.replace(COMPANY_ABBREVIATION, "").replace(DROPPED, "");
    let shorter;
    while ((shorter = text.replace(COMPANY_WORD, "")) !== text) text = shorter;
    return text;
  }

  function fold(text) {
    for (let pass = 0; pass < MAX_PASSES; pass += 1) {
      const folded = foldOnce(text);
      if (folded === text) break;
      text = folded;
    }
    return text;
  }

  // The digits of a phone-like query ("03-1234", "+81 90"), or null.
  function phoneDigits(query) {
    const compact = nfkc(query).replace(/[\s()+\-\u2010-\u2015\u2212\u30FC\uFF70\uFE63\uFF0D]/g, "");
    return compact.length >= 3 && /^[0-9]+$/.test(compact) ? compact : null;
  }

  scope.FieldFold = { fold, phoneDigits };
})(typeof self !== "undefined" ? self : globalThis);
