"""ISO 4217 codes of the currencies money is paid in.

Left out: the codes ISO 4217 keeps for things that are not such a currency: XXX (no currency),
XTS (testing), precious metals (XAU, XAG, XPT, XPD), IMF and other units of account (XDR, XSU,
XUA, XBA-XBD) and fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW). Codes withdrawn in
the last few years (ANG, BGN, HRK, SLL, ZWL) are still accepted: old senders keep sending them.
"""

from __future__ import annotations

ISO_4217 = frozenset("""
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
    TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
""".split())


def is_currency(code: str) -> bool:
    return code in ISO_4217
