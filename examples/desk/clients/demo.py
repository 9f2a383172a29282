"""The desk, driven from Python through the generated package (generated/python):
every method kind, a declared error, and a push. `python3 demo.py SOCKET`."""

from __future__ import annotations

import asyncio
import sys

from messages import (
    CalculatorClient,
    DivisionByZero,
    KvStoreClient,
    Level,
    NotFound,
    OrderLimit,
    PricesClient,
    Side,
)


async def main(socket: str) -> None:
    async with await CalculatorClient.connect(socket) as calculator:
        kv = KvStoreClient(calculator.connection)
        prices = PricesClient(calculator.connection)
        print(f"calculator.add(40, 2)        -> {(await calculator.add(a=40, b=2)).sum}")
        try:
            await calculator.divide(dividend=7, divisor=0)
        except DivisionByZero as error:
            print(f"calculator.divide(7, 0)      -> DivisionByZero (dividend {error.dividend})")
        numbers = [item.value async for item in calculator.count(up_to=5, delay_ms=10)]
        print(f"calculator.count(5)          -> {numbers} (streamed)")
        await calculator.log(level=Level.INFO, line="hello from Python")
        print("calculator.log(..)           -> delivered (fire-and-forget)")
        await kv.put(key="greeting", value=b"hello")
        print(f"kv_store.put/get(greeting)   -> {(await kv.get(key='greeting')).value!r}")
        try:
            await kv.get(key="nothing")
        except NotFound as missing:
            print(f"kv_store.get(nothing)        -> NotFound (key {missing.key!r})")
        order = OrderLimit(symbol="ACME", side=Side.BUY, size=100, price=99.5)
        print(f"prices.place(limit order)    -> accepted as #{(await prices.place(order)).id}")
        async with prices.subscribe_price_update() as updates:
            async for update in updates:
                quote = update.quote
                print(f"push PriceUpdate             -> {quote.symbol} {quote.side.value} {quote.size} @ {quote.price}")
                break


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
