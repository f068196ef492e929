from campaigns.texts import personalise


def test_the_remark_name_fills_its_placeholder():
    assert personalise("{备注名}，新品到了", remark_name="王姐", nickname="小王🌸") == "王姐，新品到了"


def test_an_empty_remark_name_falls_back_to_the_nickname():
    assert personalise("{备注名}，你好", remark_name="", nickname="小王🌸") == "小王🌸，你好"


def test_the_nickname_falls_back_to_the_remark_name():
    assert personalise("Hi {nickname}", remark_name="王姐", nickname=" ") == "Hi 王姐"


def test_a_contact_with_no_names_is_called_dear_rather_than_nothing():
    assert personalise("{备注名}，新品到了", remark_name="", nickname="") == "亲，新品到了"


def test_a_placeholder_can_name_its_own_fallback():
    assert personalise("{昵称|朋友}好", remark_name="", nickname="") == "朋友好"
    assert personalise("{昵称|}好", remark_name="", nickname="") == "好"


def test_unknown_braces_and_markup_are_left_as_they_are():
    text = "{地址} <b>{备注名}</b>"
    assert personalise(text, remark_name="<i>张</i>", nickname="") == "{地址} <b><i>张</i></b>"
