import threading

from slotviewer.components.inbox import Inbox


def test_callbacks_posted_from_threads_run_in_order_on_the_processing_thread() -> None:
    inbox, ran = Inbox(), []
    worker = threading.Thread(target=lambda: [inbox.post(lambda i=i: ran.append((i, threading.get_ident())))
                                              for i in range(3)])
    worker.start()
    worker.join()
    assert inbox and ran == [], "nothing runs until the owner processes"
    assert inbox.process() == 3
    assert ran == [(i, threading.get_ident()) for i in range(3)]
    assert not inbox and inbox.process() == 0
